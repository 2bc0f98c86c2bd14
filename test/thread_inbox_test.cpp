// SPDX-License-Identifier: MIT
// uvreap tests: the cross-thread inbox (private) on its own: no loop and no processes,
// the "children" are numbers. Run under ThreadSanitizer by the test command.
#include "thread_inbox.hpp"

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
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
  BOOST_TEST(!inbox.spawning());
  BOOST_TEST(submit(-EAGAIN, ec) == -1);
  BOOST_TEST(ec == std::errc::resource_unavailable_try_again);
  BOOST_TEST(!inbox.has_work());
  BOOST_TEST(!inbox.spawning());
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

BOOST_AUTO_TEST_SUITE_END()
