// SPDX-License-Identifier: MIT
// uvreap tests: fixtures and helpers shared by every suite.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "uvreap/reaper.hpp"
#include "uvreap/spawn_options.hpp"

// Let BOOST_TEST compare error codes against std::errc and errno conditions.
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::errc)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::error_condition)

namespace uvreap::test {

/// ESTALE, which std::errc does not name.
inline const std::error_condition estale{ESTALE, std::generic_category()};

/// The policy the policy-independent suites run under (`--policy=own|all|pidfd` on the
/// test binary's command line; default own).
uvreap::policy test_policy();
void set_test_policy(uvreap::policy p);
/// Default options with `test_policy()`.
uvreap::options test_options();

// Preconditions for test cases (`BOOST_AUTO_TEST_CASE(name, *precondition(...))`): a case
// whose precondition does not hold is reported as skipped, with the reason, never run
// and never counted as passed.
using boost::unit_test::precondition;
/// The suite runs under a policy other than `all`.
boost::test_tools::assertion_result policy_is_not_all(boost::unit_test::test_unit_id);
/// The suite runs under policy `all`.
boost::test_tools::assertion_result policy_is_all(boost::unit_test::test_unit_id);
/// The test runs as root (to drop privileges, or to ask for root's ids).
boost::test_tools::assertion_result running_as_root(boost::unit_test::test_unit_id);

/// Every exit callback it hands out records the status by pid and counts the call.
struct recorder {
  std::map<pid_t, std::vector<exit_status>> by_pid;
  std::size_t calls = 0;
  exit_callback cb() {
    return [this](const exit_status& s) {
      by_pid[s.pid()].push_back(s);
      ++calls;
    };
  }
};

/// argv that re-executes this test binary in a helper mode (see child_main in main.cpp).
std::vector<std::string> helper(std::vector<std::string> args);
/// spawn_options for `helper(args)`.
spawn_options helper_options(std::vector<std::string> args);

/// Runs in the test binary before Boost when argv[1] is "--child"; never returns.
[[noreturn]] void child_main(int argc, char** argv);

/// A pipe whose read end children block on until the test releases them (H2: gated
/// child). Forked children must call `child_wait_and_exit`.
class gate {
 public:
  gate();
  ~gate();
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  /// Closes the write end: every child blocked on the read end wakes and exits.
  void open();
  [[nodiscard]] int read_fd() const noexcept { return fds_[0]; }
  /// In a forked child: drop the write end, block until the gate opens, _exit(code).
  [[noreturn]] void child_wait_and_exit(int code) const noexcept;

 private:
  int fds_[2]{-1, -1};
};

/// spawn_options for a helper that blocks until `g` opens, then exits with `code`.
spawn_options gated_helper(const gate& g, int code);
/// posix_spawn (not through a reaper) a small child that blocks on `g`, then exits with
/// `code`. Cheap to keep thousands alive, unlike forks of this (possibly sanitized) binary.
pid_t spawn_gated(const gate& g, int code);
/// fork() a child that blocks on `g` and then _exit(code). Returns its pid.
pid_t fork_gated(const gate& g, int code);
/// fork() a child that _exit(code)s at once.
pid_t fork_exiting(int code);
/// Blocks until `pid` is a zombie, without reaping it (waitid WNOWAIT; H1).
void wait_until_zombie(pid_t pid);

/// A CLOEXEC pipe whose ends are closed on scope exit.
struct pipe_pair {
  int rd = -1;
  int wr = -1;
  pipe_pair();
  ~pipe_pair();
  void close_write();
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
};
/// Reads what `fd` has until EOF; fails the test after `deadline` instead of hanging.
std::string read_to_eof(int fd, std::chrono::milliseconds deadline = std::chrono::seconds{30});
/// Reads one line (without its newline) from a blocking fd.
std::string read_line(int fd);
/// True when `fd` can be read without blocking.
bool readable_now(int fd);
/// spawn_options for `/bin/sh -c script`.
spawn_options shell(const std::string& script);

/// Keeps the calling thread (the loop thread, in a test) busy for `how_long` of
/// CLOCK_MONOTONIC time, as a callback that works that long would. This is the work
/// being simulated, never a way to wait for something.
void hold_loop_thread(std::chrono::milliseconds how_long);

/// Pids of this process's live and zombie children (/proc/self/task/*/children).
std::vector<pid_t> children_census();
/// True when no child of this process is waitable (waitid WNOWAIT finds none).
bool no_zombies();
/// Entries in /proc/self/fd.
int open_fd_count();

/// A common libuv shutdown: uv_walk closes every handle it is shown (with no callback).
void close_every_handle(uv_loop_t* loop);

/// A private loop with a watchdog and a teardown that asserts the contracts every test
/// shares: no zombie, no child left running, every handle closed (`uv_loop_close()==0`).
struct loop_fixture {
  loop_fixture();
  ~loop_fixture();
  loop_fixture(const loop_fixture&) = delete;
  loop_fixture& operator=(const loop_fixture&) = delete;

  /// Runs the loop until `done()` or the deadline; false (and a failed check) on timeout.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds deadline = std::chrono::seconds{60});
  /// Runs `fn` from a callback of the loop (a zero timer) and returns once it has run.
  void run_in_callback(const std::function<void()>& fn);
  /// Runs the loop one non-blocking iteration at a time until `done()` or the deadline,
  /// so that no iteration blocks in poll and runs a later timer in the same `uv_run`.
  bool run_nowait_until(const std::function<bool()>& done,
                        std::chrono::milliseconds deadline = std::chrono::seconds{60});
  /// Runs the loop for `window` (to show that something does *not* happen in it).
  void run_for(std::chrono::milliseconds window);
  /// Runs the loop until it has nothing left to do, with a deadline.
  bool run_to_completion(std::chrono::milliseconds deadline = std::chrono::seconds{60});

  uv_loop_t loop{};
};

/// A `uv_pipe_t` for a child's output (`stdio::pipe`), keeping what it reads until EOF.
/// `finish` closes it and runs the loop until libuv is done with it.
struct pipe_text {
  uv_pipe_t pipe{};
  std::string text;
  explicit pipe_text(uv_loop_t* loop);
  /// Reads until EOF or an error (after the spawn opened the pipe).
  void start();
  void finish(loop_fixture& fx);
  pipe_text(const pipe_text&) = delete;
  pipe_text& operator=(const pipe_text&) = delete;

 private:
  bool closed_ = false;
};

/// The prologue of most reaper tests: a loop_fixture, a reaper of `test_policy()` on its
/// loop, and a recorder. The reaper is destroyed (closing with kill_children) before the
/// loop fixture's teardown checks for zombies and open handles.
struct reaper_fixture : loop_fixture {
  reaper r{&loop, test_options()};
  recorder rec;
};

}  // namespace uvreap::test
