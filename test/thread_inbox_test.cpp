// SPDX-License-Identifier: MIT
// uvreap tests: the cross-thread inbox (private) on its own: no loop and no processes,
// the "children" are numbers. Run under ThreadSanitizer by the test command.
#include "thread_inbox.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <map>
#include <semaphore>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using uvreap::detail::thread_inbox;

BOOST_TEST_DONT_PRINT_LOG_VALUE(std::errc)

namespace {

struct inbox_fixture {
  std::atomic<int> wakes{0};
  thread_inbox inbox{[](void* self) noexcept { ++static_cast<inbox_fixture*>(self)->wakes; }, this};
  std::atomic<int> discarded{0};

  // A spawn that "makes" child `pid` (or fails with -errno) and counts one call.
  pid_t submit(pid_t pid, std::error_code& ec, bool hold_lock = false) {
    thread_inbox::item it;
    it.callback = [](const uvreap::exit_status&) {};
    return inbox.submit_spawn(
        std::move(it), hold_lock,
        [&](uvreap::stats::syscall_counts& c) {
          ++c.spawn;
          return pid;
        },
        [&](pid_t, uvreap::stats::syscall_counts& c) {
          ++c.kill;
          ++discarded;
        },
        ec);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(thread_inbox_suite, inbox_fixture)

BOOST_AUTO_TEST_CASE(counts_handed_over_arrive_with_every_field) {
  uvreap::stats::syscall_counts c{};
  c.wait4 = 1;
  c.waitid = 2;
  c.kill = 3;
  c.spawn = 4;
  c.fds = 5;
  c.sigaction = 6;
  c.pidfd_open = 7;
  c.epoll = 8;
  c.close = 9;
  c.other = 10;
  c.eintr = 11;
  inbox.count(c);
  inbox.count(c);
  std::vector<thread_inbox::item> out;
  uvreap::stats::syscall_counts got{};
  got.close = 100;  // added to, not replaced
  inbox.take_all(out, got);
  BOOST_TEST(out.empty());
  BOOST_TEST(got.wait4 == 2u);
  BOOST_TEST(got.waitid == 4u);
  BOOST_TEST(got.kill == 6u);
  BOOST_TEST(got.spawn == 8u);
  BOOST_TEST(got.fds == 10u);
  BOOST_TEST(got.sigaction == 12u);
  BOOST_TEST(got.pidfd_open == 14u);
  BOOST_TEST(got.epoll == 16u);
  BOOST_TEST(got.close == 118u);
  BOOST_TEST(got.other == 20u);
  BOOST_TEST(got.eintr == 22u);
  BOOST_TEST(got.total() == 2u * 55u + 100u);
  inbox.take_all(out, got);  // handed over once
  BOOST_TEST(got.close == 118u);
}

BOOST_AUTO_TEST_CASE(items_from_four_threads_each_come_out_once_with_their_calls_counted) {
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<thread_inbox::item> got;
  uvreap::stats::syscall_counts calls{};
  std::atomic<int> done{0};
  std::atomic<int> refused{0};  // Boost.Test's assertions are for the main thread only
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::error_code ec;
        // Half of them with the lock held across "spawning", as policy all does.
        if (submit(1 + t * kEach + i, ec, i % 2 == 0) <= 0 || ec) ++refused;
      }
      ++done;
    });
  }
  // The loop thread's side, concurrently: take what is there until every thread is done.
  std::vector<thread_inbox::item> batch;
  for (;;) {
    const bool finished = done == kThreads;
    if (inbox.has_work()) {
      inbox.take_all(batch, calls);
      for (auto& it : batch)
        got.push_back(std::move(it));
      batch.clear();
    }
    if (finished && !inbox.has_work()) break;
    std::this_thread::yield();
  }
  for (auto& th : threads)
    th.join();
  BOOST_TEST(refused == 0);
  BOOST_REQUIRE(got.size() == static_cast<std::size_t>(kThreads * kEach));
  std::vector<pid_t> pids;
  for (const auto& it : got)
    pids.push_back(it.pid);
  std::sort(pids.begin(), pids.end());
  for (int i = 0; i < kThreads * kEach; ++i)
    BOOST_REQUIRE(pids[static_cast<std::size_t>(i)] == i + 1);
  BOOST_TEST(calls.spawn == static_cast<std::uint64_t>(kThreads * kEach));
  BOOST_TEST(wakes == kThreads * kEach);
  BOOST_TEST(discarded == 0);
}

BOOST_AUTO_TEST_CASE(a_failed_spawn_queues_nothing_and_carries_its_errno) {
  std::error_code ec;
  BOOST_TEST(inbox.in_flight() == 0u);
  BOOST_TEST(submit(-EAGAIN, ec) == -1);
  BOOST_TEST(ec == std::errc::resource_unavailable_try_again);
  BOOST_TEST(!inbox.has_work());
  BOOST_TEST(inbox.in_flight() == 0u);
  // One wake-up all the same: a sweep may be waiting for this spawn's child.
  BOOST_TEST(wakes == 1);
  std::vector<thread_inbox::item> out;
  uvreap::stats::syscall_counts calls{};
  inbox.take_all(out, calls);
  BOOST_TEST(out.empty());
  BOOST_TEST(calls.spawn == 1u);  // the failed call still counts
}

BOOST_AUTO_TEST_CASE(after_shut_every_submission_is_estale) {
  inbox.shut();
  std::error_code ec;
  BOOST_TEST(submit(42, ec) == -1);
  BOOST_TEST(ec.value() == ESTALE);
  thread_inbox::item it;
  it.pid = 43;
  inbox.submit_watch(
      std::move(it), false, [](auto&) { return 0; }, ec);
  BOOST_TEST(ec.value() == ESTALE);
  BOOST_TEST(!inbox.has_work());
  BOOST_TEST(discarded == 0);  // the first was refused before any child existed
}

BOOST_AUTO_TEST_CASE(a_child_made_while_the_inbox_shuts_is_discarded_not_queued) {
  std::error_code ec;
  thread_inbox::item it;
  const pid_t r = inbox.submit_spawn(
      std::move(it), false,
      [&](uvreap::stats::syscall_counts&) {
        inbox.shut();  // close() on the loop thread while this thread spawns
        return 77;
      },
      [&](pid_t pid, uvreap::stats::syscall_counts&) {
        BOOST_TEST(pid == 77);
        ++discarded;
      },
      ec);
  BOOST_TEST(r == -1);
  BOOST_TEST(ec.value() == ESTALE);
  BOOST_TEST(discarded == 1);  // no callback will ever run, so no child may be left
  BOOST_TEST(!inbox.has_work());
}

BOOST_AUTO_TEST_CASE(a_watch_of_a_pid_already_queued_is_ebusy_and_a_peek_error_is_returned) {
  auto watch = [&](pid_t pid, int peek_result) {
    std::error_code ec;
    thread_inbox::item it;
    it.pid = pid;
    it.callback = [](const uvreap::exit_status&) {};
    inbox.submit_watch(
        std::move(it), true,
        [&](uvreap::stats::syscall_counts& c) {
          ++c.waitid;
          return peek_result;
        },
        ec);
    return ec;
  };
  BOOST_TEST(!watch(10, 0));
  BOOST_TEST(watch(10, 0) == std::errc::device_or_resource_busy);
  BOOST_TEST(watch(11, -ECHILD) == std::errc::no_child_process);
  std::vector<thread_inbox::item> out;
  uvreap::stats::syscall_counts calls{};
  inbox.take_all(out, calls);
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].pid == 10);
  BOOST_TEST(out[0].watched);
  BOOST_TEST(calls.waitid == 3u);
  BOOST_TEST(wakes == 1);
}

// --- the registration protocol (thread_inbox.hpp) through every interleaving ----------

namespace {

// A thread that spawns through the inbox, stopped by the test after each step of its
// registration: 1, ticket taken (inside `make`, before the child exists); 2, its child
// made and already exited (a zombie, or nothing when the spawn fails); 3, queued and
// woken (submit_spawn returned). Each `advance` runs exactly one step.
class scripted_spawner {
 public:
  scripted_spawner(thread_inbox& in, pid_t pid, bool fails)
      : in_(in), pid_(pid), fails_(fails), t_([this] { body(); }) {}
  scripted_spawner(const scripted_spawner&) = delete;
  scripted_spawner& operator=(const scripted_spawner&) = delete;
  ~scripted_spawner() {
    while (step_ < 3)
      advance();
    t_.join();
  }
  void advance() {
    go_.release();
    reached_.acquire();
    ++step_;
  }
  [[nodiscard]] int step() const { return step_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool fails() const { return fails_; }

 private:
  void body() {
    go_.acquire();
    thread_inbox::item it;
    it.callback = [](const uvreap::exit_status&) {};
    std::error_code ec;
    (void)in_.submit_spawn(
        std::move(it), false,
        [&](uvreap::stats::syscall_counts&) {
          reached_.release();  // 1: the ticket is taken
          go_.acquire();
          reached_.release();  // 2: the child exists and has exited (or the spawn failed)
          go_.acquire();
          return fails_ ? -EAGAIN : pid_;
        },
        [](pid_t, uvreap::stats::syscall_counts&) {}, ec);
    reached_.release();  // 3: queued (or failed), the loop woken
  }

  thread_inbox& in_;
  const pid_t pid_;
  const bool fails_;
  std::binary_semaphore go_{0};
  std::binary_semaphore reached_{0};
  int step_ = 0;
  std::thread t_;
};

// One interleaving: two spawning threads (A, B), a foreign zombie F that appears at a
// given point, and the loop thread's sweeps (policy own's, over a model of the kernel's
// waitable children) between any of these steps.
struct run_result {
  std::string failure;  // empty when every check held
  int deferrals = 0;
  int scans = 0;
};

constexpr pid_t kForeign = 100;

run_result run_interleaving(const std::vector<char>& events, bool b_fails) {
  run_result res;
  auto fail = [&](const std::string& what) {
    if (res.failure.empty()) res.failure = what;
  };
  int wakes = 0;
  thread_inbox inbox{[](void* w) noexcept { ++*static_cast<int*>(w); }, &wakes};
  std::vector<pid_t> zombies;  // waitable children, oldest (first made) first
  std::set<pid_t> table;
  std::map<pid_t, int> delivered;
  int tickets = 0;  // taken so far, in order
  std::map<char, int> ticket_of;
  std::set<pid_t> queued;  // in the inbox, not drained
  pid_t asked = 0;
  int horizon = 0;
  scripted_spawner a(inbox, 10, false);
  scripted_spawner b(inbox, 11, b_fails);
  auto spawner = [&](char c) -> scripted_spawner& { return c == 'A' ? a : b; };

  // The loop thread's two moves: drain the inbox (on its wake-up, and at the start of
  // every sweep), and look (a sweep's peek loop, policy own). A thread may queue between
  // a sweep's drain and its look.
  auto drain = [&] {
    if (!inbox.has_work()) return;
    std::vector<thread_inbox::item> out;
    uvreap::stats::syscall_counts calls{};
    inbox.take_all(out, calls);
    for (const auto& it : out) {
      table.insert(it.pid);
      queued.erase(it.pid);
    }
  };
  auto look = [&] {
    for (;;) {
      auto head = zombies.begin();
      if (head == zombies.end()) return;
      if (table.count(*head) != 0) {  // ours: reaped by pid
        ++delivered[*head];
        table.erase(*head);
        zombies.erase(head);
        continue;
      }
      // The question, and what the protocol says its answer must be.
      if (*head != asked) {
        asked = *head;
        horizon = tickets;
      }
      bool expect = queued.count(*head) != 0;
      for (char c : {'A', 'B'}) {
        const auto& s = spawner(c);
        if (s.step() >= 1 && s.step() < 3 && ticket_of[c] <= horizon) expect = true;
      }
      const bool answer = inbox.may_be_coming(*head);
      if (answer != expect) fail("may_be_coming(" + std::to_string(*head) + ") is wrong");
      if (*head != kForeign && !answer) fail("a registration on its way was called foreign");
      if (answer) {
        ++res.deferrals;
        return;
      }
      ++res.scans;  // the slow path: each owned zombie by pid; the foreign one stays
      for (auto z = zombies.begin(); z != zombies.end();) {
        if (table.count(*z) != 0) {
          ++delivered[*z];
          table.erase(*z);
          z = zombies.erase(z);
        } else {
          ++z;
        }
      }
      return;
    }
  };

  for (char e : events) {
    if (e == 'D') {
      drain();
    } else if (e == 'L') {
      look();
    } else if (e == 'F') {
      zombies.push_back(kForeign);
    } else {
      auto& s = spawner(e);
      s.advance();
      if (s.step() == 1) ticket_of[e] = ++tickets;
      if (s.step() == 2 && !s.fails()) zombies.push_back(s.pid());
      if (s.step() == 3 && !s.fails()) queued.insert(s.pid());
    }
  }
  // Every thread has returned: the loop's wake-ups drain what is queued, and sweep.
  for (int i = 0; i < 3; ++i) {
    drain();
    look();
  }
  if (delivered[10] != 1) fail("A's child was delivered " + std::to_string(delivered[10]) + "x");
  if (delivered[11] != (b_fails ? 0 : 1)) fail("B's child was delivered wrongly");
  if (delivered.count(kForeign) != 0 && delivered[kForeign] != 0) fail("F was reaped");
  if (inbox.in_flight() != 0) fail("a ticket was never returned");
  if (inbox.may_be_coming(kForeign)) fail("F still counts as coming with nothing in flight");
  if (wakes != 2) fail("each spawn wakes the loop once, failed or not");
  return res;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_registration_protocol_holds_in_every_interleaving) {
  // Events: A and B advance three steps each (their order kept), F appears once (first,
  // in the middle or last), and the loop thread drains (D), looks (L) or does both (a
  // sweep) in any one or two of the gaps between them. More loop moves add no state the
  // protocol can see: the question's state is the pid asked and its horizon, set by the
  // first look at a pid and read by every later one.
  int runs = 0;
  int deferrals = 0;
  int scans = 0;
  const std::array<const char*, 3> moves = {"D", "L", "DL"};
  std::string order = "AAABBB";
  do {
    for (std::size_t f : {std::size_t{0}, std::size_t{3}, std::size_t{6}}) {
      std::string base = order;
      base.insert(f, 1, 'F');
      const std::size_t gaps = base.size() + 1;
      // Each gap gets nothing or one of the three moves, at most two gaps something:
      // `choice` counts in base 4, digit g for gap g (0: nothing).
      std::size_t all = 1;
      for (std::size_t g = 0; g < gaps; ++g)
        all *= 4;
      for (std::size_t choice = 0; choice < all; ++choice) {
        std::vector<std::size_t> at(gaps);
        std::size_t busy = 0;
        for (std::size_t g = 0, c = choice; g < gaps; ++g, c /= 4)
          busy += (at[g] = c % 4) != 0 ? 1 : 0;
        if (busy > 2) continue;
        for (bool b_fails : {false, true}) {
          std::vector<char> events;
          for (std::size_t g = 0; g < gaps; ++g) {
            if (at[g] != 0) {
              const char* m = moves[at[g] - 1];
              events.insert(events.end(), m, m + std::strlen(m));
            }
            if (g < base.size()) events.push_back(base[g]);
          }
          const run_result r = run_interleaving(events, b_fails);
          ++runs;
          deferrals += r.deferrals;
          scans += r.scans;
          if (!r.failure.empty()) {
            BOOST_ERROR(r.failure << " in " << std::string(events.begin(), events.end())
                                  << (b_fails ? " (B fails)" : ""));
            return;
          }
        }
      }
    }
  } while (std::next_permutation(order.begin(), order.end()));
  BOOST_TEST_MESSAGE(runs << " interleavings, " << deferrals << " waits, " << scans << " scans");
  BOOST_TEST(runs == 20 * 3 * (1 + 8 * 3 + 28 * 9) * 2);
  BOOST_TEST(deferrals > 0);  // both answers were exercised
  BOOST_TEST(scans > 0);
}

BOOST_AUTO_TEST_SUITE_END()
