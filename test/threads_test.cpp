// SPDX-License-Identifier: MIT
// uvreap tests: spawn and watch called from other threads (also run under TSan).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

extern char** environ;

using namespace uvreap;
using namespace uvreap::test;

namespace {

spawn_options program(const char* path) {
  spawn_options o;
  o.argv = {path};
  return o;
}

// posix_spawn outside any reaper, as a program that then calls watch() would. -1 on
// failure (Boost.Test's macros are not for other threads).
pid_t raw_spawn(const char* path) {
  char* argv[] = {const_cast<char*>(path), nullptr};
  pid_t pid = -1;
  return ::posix_spawn(&pid, path, nullptr, nullptr, argv, environ) == 0 ? pid : -1;
}

using record = std::pair<pid_t, int>;  // pid, exit code (pids recycle: compare multisets)

}  // namespace

BOOST_FIXTURE_TEST_SUITE(threads_suite, loop_fixture)

BOOST_AUTO_TEST_CASE(four_threads_submit_ten_thousand_children_each_exit_arrives_once) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  reaper r{&loop, test_options()};  // constructed here: this thread is the loop thread
  const auto loop_thread = std::this_thread::get_id();

  std::vector<record> delivered;
  bool all_on_loop_thread = true;
  auto on_exit = [&](const exit_status& s) {
    if (std::this_thread::get_id() != loop_thread || !s.exited()) all_on_loop_thread = false;
    delivered.emplace_back(s.pid(), s.code());
  };

  std::mutex mu;
  std::vector<record> submitted;
  std::atomic<int> failures{0};
  std::atomic<int> finished{0};
  // A thread that finishes must wake the loop: its last child may have been delivered
  // before `finished` counted it, and then nothing else would end the loop's wait.
  uv_async_t finish_wake{};
  BOOST_REQUIRE(uv_async_init(&loop, &finish_wake, [](uv_async_t*) {}) == 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Threads 0 and 1 spawn through the reaper, 2 and 3 spawn themselves and watch
      // (not under policy `all`, which may take such a child as an orphan before the
      // watch: documented); odd threads run /bin/false (exit 1), even ones /bin/true.
      const char* path = t % 2 == 0 ? "/bin/true" : "/bin/false";
      const int code = t % 2;
      for (int i = 0; i < kPerThread; ++i) {
        std::error_code ec;
        pid_t pid = -1;
        if (t < 2 || r.reap_policy() == policy::all) {
          pid = r.spawn(program(path), on_exit, ec);
        } else {
          pid = raw_spawn(path);
          if (pid < 0) {
            ++failures;
            continue;
          }
          r.watch(pid, on_exit, ec);
        }
        if (ec) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        submitted.emplace_back(pid, code);
      }
      ++finished;
      uv_async_send(&finish_wake);
    });
  }
  const bool ok =
      run_until([&] { return finished == kThreads && delivered.size() == kThreads * kPerThread; },
                std::chrono::seconds{300});
  for (auto& th : threads)
    th.join();
  uv_close(reinterpret_cast<uv_handle_t*>(&finish_wake), nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);  // lets the close callback phase release it
  BOOST_REQUIRE(ok);
  BOOST_TEST(failures == 0);
  BOOST_TEST(all_on_loop_thread);
  std::sort(submitted.begin(), submitted.end());
  std::sort(delivered.begin(), delivered.end());
  BOOST_TEST(submitted.size() == static_cast<std::size_t>(kThreads * kPerThread));
  BOOST_TEST((delivered == submitted));  // each exit once, with its own code
  BOOST_TEST(r.stats().queued_registrations == static_cast<std::uint64_t>(kThreads * kPerThread));
  BOOST_TEST(r.size() == 0u);
}

BOOST_FIXTURE_TEST_CASE(calls_from_a_thread_after_close_get_estale_and_leave_no_child,
                        reaper_fixture) {
  r.close();
  std::error_code spawn_ec;
  std::error_code watch_ec;
  pid_t pid = 0;
  std::thread([&] {
    pid = r.spawn(
        program("/bin/true"), [](const exit_status&) {}, spawn_ec);
    r.watch(
        ::getpid(), [](const exit_status&) {}, watch_ec);
  }).join();
  BOOST_TEST(pid == -1);
  BOOST_TEST(spawn_ec == estale);
  BOOST_TEST(bool(watch_ec));
  BOOST_TEST(children_census().empty());
}

BOOST_FIXTURE_TEST_CASE(a_thread_gets_the_same_argument_errors_as_the_loop_thread, reaper_fixture) {
  std::error_code empty_cb;
  std::error_code bad_pid;
  std::error_code not_child;
  std::error_code bad_opts;
  std::thread([&] {
    r.spawn(program("/bin/true"), exit_callback{}, empty_cb);
    r.watch(
        0, [](const exit_status&) {}, bad_pid);
    r.watch(
        1, [](const exit_status&) {}, not_child);
    r.spawn(
        spawn_options{}, [](const exit_status&) {}, bad_opts);
  }).join();
  BOOST_TEST(empty_cb == std::errc::invalid_argument);
  BOOST_TEST(bad_pid == std::errc::invalid_argument);
  BOOST_TEST(not_child == std::errc::no_child_process);
  BOOST_TEST(bad_opts == std::errc::invalid_argument);
  BOOST_TEST(r.size() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_time_limit_set_from_a_thread_is_honoured, reaper_fixture) {
  gate g;
  std::optional<exit_status> got;
  std::thread([&] {
    auto o = gated_helper(g, 0);
    o.time_limit = deadline{std::chrono::milliseconds{20}, SIGTERM};
    r.spawn(o, [&](const exit_status& s) { got = s; });
  }).join();
  BOOST_REQUIRE(run_until([&] { return got.has_value(); }));
  BOOST_TEST(got->signal() == SIGTERM);
  BOOST_TEST(got->deadline_fired());
}

BOOST_FIXTURE_TEST_CASE(spawns_from_a_thread_while_walks_close_the_handles_lose_no_exit,
                        reaper_fixture) {
  // The loop thread makes the reaper's handles anew after each walk while another thread
  // keeps spawning: that thread wakes the loop through a handle being replaced.
  std::atomic<bool> done{false};
  std::atomic<int> submitted{0};
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) {
      std::error_code ec;
      if (r.spawn(program("/bin/true"), rec.cb(), ec) > 0) ++submitted;
    }
    done = true;
  });
  std::size_t own = 0;
  while (!done.load()) {
    close_every_handle(&loop);
    std::error_code ec;
    BOOST_TEST(r.spawn(program("/bin/true"), rec.cb(), ec) > 0);
    ++own;
    // Every exit so far, from either thread, arrives while the next walk waits.
    BOOST_REQUIRE(run_until([&] { return rec.calls >= own; }));
  }
  t.join();
  BOOST_TEST(submitted.load() == 200);
  BOOST_REQUIRE(run_until([&] { return rec.calls == own + 200; }));
  BOOST_TEST(r.stats().handles_renewed == own);
  std::size_t callbacks = 0;
  for (const auto& [pid, list] : rec.by_pid)
    for (const auto& st : list)
      callbacks += st.code() == 0 ? 1 : 0;
  BOOST_TEST(callbacks == own + 200);
  BOOST_TEST(no_zombies());
}

namespace {

// `n` spawns of /bin/true with a pipe on stdout, made on this thread (the pipe handles
// are on a loop of its own); `made` counts those that succeeded.
void spawn_with_pipes(reaper& r, int n, std::atomic<int>& made) {
  uv_loop_t loop;
  // No loop, no spawn: `made` stays short and the caller's check on it fails.
  if (uv_loop_init(&loop) != 0) return;
  for (int i = 0; i < n; ++i) {
    uv_pipe_t out;
    uv_pipe_init(&loop, &out, 0);
    spawn_options o = program("/bin/true");
    o.stdio_map = {stdio::inherit(), stdio::pipe(&out, stdio::flow::from_child), stdio::inherit()};
    std::error_code ec;
    if (r.spawn(
            o, [](const exit_status&) {}, ec) > 0)
      ++made;
    uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  (void)uv_loop_close(&loop);
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(syscalls_of_spawns_on_other_threads_are_all_counted, reaper_fixture) {
  // The same spawns on the loop thread and on another: every count must arrive.
  constexpr int n = 20;
  std::atomic<int> made{0};
  const stats::syscall_counts before = r.stats().syscalls;
  spawn_with_pipes(r, n, made);
  BOOST_REQUIRE(run_until([&] { return r.size() == 0; }));
  const stats::syscall_counts on_loop = r.stats().syscalls;
  std::thread t([&] { spawn_with_pipes(r, n, made); });
  t.join();
  BOOST_REQUIRE(run_until([&] { return r.size() == 0 && r.stats().exits_reaped == 2u * n; }));
  const stats::syscall_counts after = r.stats().syscalls;
  BOOST_TEST(made.load() == 2 * n);
  // Per spawn: one pipe2, one close of the child's end, one clone (or posix_spawn).
  BOOST_TEST(on_loop.fds - before.fds == std::uint64_t{n});
  BOOST_TEST(after.fds - on_loop.fds == std::uint64_t{n});
  BOOST_TEST(after.spawn - on_loop.spawn == on_loop.spawn - before.spawn);
  BOOST_TEST(on_loop.spawn - before.spawn >= std::uint64_t{n});
  // close also counts policy pidfd's pidfds, one per child whichever thread spawned it.
  BOOST_TEST(after.close - on_loop.close == on_loop.close - before.close);
  BOOST_TEST(after.close - on_loop.close >= std::uint64_t{n});
}

BOOST_FIXTURE_TEST_CASE(close_registers_what_threads_queued_and_terminates_it, reaper_fixture) {
  gate g;
  int calls = 0;
  pid_t pid = -1;
  std::thread([&] {
    pid = r.spawn(gated_helper(g, 0), [&](const exit_status&) { ++calls; });
  }).join();
  // Nothing ran the loop yet: the child is only queued. close() must still own it.
  bool closed = false;
  r.close(close_options::kill_children(std::chrono::milliseconds{100}), [&] { closed = true; });
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(calls == 0);  // no callback after close, but reaped
  BOOST_TEST(::kill(pid, 0) == -1);
}

BOOST_FIXTURE_TEST_CASE(fds_opened_without_cloexec_by_other_threads_never_reach_a_child,
                        reaper_fixture) {
  std::atomic<bool> stop{false};
  std::thread leaker([&] {
    while (!stop) {
      int fds[2];
      if (::pipe(fds) == 0) {  // no O_CLOEXEC, on purpose
        ::close(fds[0]);
        ::close(fds[1]);
      }
    }
  });
  int done = 0;
  int clean = 0;
  for (int i = 0; i < 50; ++i) {
    r.spawn(helper_options({"fds"}), [&](const exit_status& s) {
      ++done;
      if (s.exited() && s.code() == 0) ++clean;  // the helper exits with its fd count above 2
    });
  }
  const bool ok = run_until([&] { return done == 50; });
  stop = true;
  leaker.join();
  BOOST_REQUIRE(ok);
  BOOST_TEST(clean == 50);
}

BOOST_FIXTURE_TEST_CASE(spawn_async_from_four_threads_each_outcome_and_exit_once_on_the_loop_thread,
                        reaper_fixture) {
  // Outcomes and exits are counted on the loop thread only (plain ints): TSan checks it.
  constexpr int per_thread = 25;
  const auto loop_thread = std::this_thread::get_id();
  int started = 0;
  int failed = 0;
  int wrong_thread = 0;
  std::vector<record> exits;
  std::vector<pid_t> pids;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        // Every fourth one cannot start: its error comes to on_started.
        spawn_options o = (i % 4 == 3) ? program("/nonexistent/program")
                                        : helper_options({"exit", std::to_string(t)});
        std::error_code ec;
        r.spawn_async(
            o,
            [&](pid_t pid, std::error_code e) {
              if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
              if (e) {
                ++failed;
              } else {
                ++started;
                pids.push_back(pid);
              }
            },
            [&](const exit_status& s) {
              if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
              exits.emplace_back(s.pid(), s.code());
            },
            ec);
        if (ec) ++refused;
      }
    });
  }
  // The loop runs while the threads submit; their outcomes keep it busy until all came.
  BOOST_REQUIRE(run_until([&] {
    return started + failed == 4 * per_thread && exits.size() == static_cast<std::size_t>(started);
  }));
  for (auto& t : threads)
    t.join();
  run_for(std::chrono::milliseconds{50});
  BOOST_TEST(refused.load() == 0);
  BOOST_TEST(wrong_thread == 0);
  BOOST_TEST(failed == 4 * (per_thread / 4));
  BOOST_TEST(started == 4 * per_thread - failed);
  BOOST_TEST(exits.size() == static_cast<std::size_t>(started));
  std::vector<pid_t> exited;
  for (const auto& e : exits)
    exited.push_back(e.first);
  std::sort(exited.begin(), exited.end());
  std::sort(pids.begin(), pids.end());
  BOOST_TEST(exited == pids);  // each started child exits once, and only those
  BOOST_TEST(r.size() == 0u);
}

BOOST_FIXTURE_TEST_CASE(close_while_threads_submit_spawn_async_leaves_no_child, loop_fixture) {
  reaper q{&loop, test_options()};
  gate g;
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  int callbacks = 0;  // loop thread only
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        std::error_code ec;
        q.spawn_async(
            gated_helper(g, 0), [&](pid_t, std::error_code) { ++callbacks; },
            [&](const exit_status&) { ++callbacks; }, ec);
        if (ec) {
          if (ec.value() != ESTALE) ++accepted;  // counted as a failure below
          break;
        }
        ++accepted;
      }
    });
  }
  // Let some outcomes arrive, then close in the middle of the stream.
  BOOST_REQUIRE(run_until([&] { return callbacks >= 5; }));
  const int before_close = callbacks;
  bool closed = false;
  q.close(close_options::kill_children(std::chrono::milliseconds{100}), [&] { closed = true; });
  stop = true;
  for (auto& t : threads)
    t.join();
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(callbacks == before_close);  // nothing after close
  BOOST_TEST(accepted.load() >= 5);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(no_zombies());
}

BOOST_AUTO_TEST_SUITE_END()
