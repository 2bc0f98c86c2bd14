// SPDX-License-Identifier: MIT
// uvreap tests: time limits (spawn_options::time_limit) and close's grace period — when
// each is counted from, and that a child whose exit is already waiting is never
// signalled or reported as timed out.
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <csignal>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
using namespace std::chrono_literals;

namespace {

// Longer than any stall between two statements of a test on a loaded machine, so that a
// limit armed from a stale clock (due at once) and one armed from the call (due this
// long after it) cannot be mistaken for each other.
constexpr auto kLimit = 2500ms;
// The loop thread's work before the call under test: longer than kLimit.
constexpr auto kWork = kLimit + 300ms;

// A helper that ignores SIGTERM, says so on `ready`, then exits 0 once `g` opens.
spawn_options term_ignoring(const gate& g, const pipe_pair& ready) {
  auto o = helper_options({"ignore-term"});
  o.stdio_map[0] = stdio::from_fd(g.read_fd());
  o.stdio_map[1] = stdio::from_fd(ready.wr);
  return o;
}

void wait_ready(pipe_pair& ready) {
  ready.close_write();
  char c = 0;
  BOOST_REQUIRE(::read(ready.rd, &c, 1) == 1);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(time_limit_suite, loop_fixture)

BOOST_FIXTURE_TEST_CASE(a_child_ignoring_sigterm_is_sigkilled_after_the_grace_period,
                        reaper_fixture) {
  gate g;
  pipe_pair ready;
  auto o = helper_options({"ignore-term"});
  o.stdio_map[0] = stdio::from_fd(g.read_fd());
  o.stdio_map[1] = stdio::from_fd(ready.wr);
  o.time_limit = deadline{1ms, SIGTERM, 100ms, false};
  const pid_t pid = r.spawn(o, rec.cb());
  ready.close_write();
  // The loop is not running, so the time limit cannot expire before SIGTERM is ignored.
  char c = 0;
  BOOST_REQUIRE(::read(ready.rd, &c, 1) == 1);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.signaled());
  BOOST_TEST(st.signal() == SIGKILL);
  BOOST_TEST(st.deadline_fired());
  BOOST_TEST(r.stats().deadlines_fired == 1u);
  BOOST_TEST(r.stats().syscalls.kill == 2u);  // SIGTERM, then SIGKILL
}

BOOST_FIXTURE_TEST_CASE(a_child_that_exits_in_time_cancels_its_deadline, reaper_fixture) {
  auto o = helper_options({"exit", "5"});
  o.time_limit = deadline{300ms, SIGTERM, 100ms, false};
  const pid_t pid = r.spawn(o, rec.cb());
  // Exited before the loop runs, however long the exec took on a loaded machine: the
  // limit may come due first or the SIGCHLD may be read first, and either way the
  // child has exited in time.
  wait_until_zombie(pid);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 5);
  BOOST_TEST(!rec.by_pid[pid].at(0).deadline_fired());
  // Nothing of the time limit keeps the loop alive or fires later.
  BOOST_TEST(uv_loop_alive(&loop) == 0);
  run_for(500ms);
  BOOST_TEST(r.stats().syscalls.kill == 0u);
  BOOST_TEST(r.stats().deadlines_fired == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_deadline_can_signal_the_whole_process_group, reaper_fixture) {
  pipe_pair out;
  // The shell starts a grandchild that holds the pipe too, says so, and waits for it.
  auto o = shell("sleep 120 & echo r; wait");
  o.stdio_map[1] = stdio::from_fd(out.wr);
  o.new_process_group = true;
  o.time_limit = deadline{1ms, SIGTERM, 10s, true};
  const pid_t pid = r.spawn(o, rec.cb());
  out.close_write();
  BOOST_REQUIRE(read_line(out.rd) == "r");
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).signal() == SIGTERM);
  BOOST_TEST(rec.by_pid[pid].at(0).deadline_fired());
  // EOF: the grandchild died with its group, or it would still hold the write end.
  BOOST_TEST(read_to_eof(out.rd).empty());
}

BOOST_FIXTURE_TEST_CASE(invalid_time_limits_are_rejected_before_any_child_exists, reaper_fixture) {
  std::error_code ec;
  auto o = helper_options({"exit", "0"});
  for (const auto& d : {deadline{0ms}, deadline{-5ms}, deadline{1s, 0}, deadline{1s, NSIG},
                        deadline{1s, SIGTERM, -1ms}, deadline{1s, SIGTERM, 1s, true}}) {
    o.time_limit = d;
    BOOST_TEST(r.spawn(o, rec.cb(), ec) == -1);
    BOOST_TEST(ec == std::errc::invalid_argument);
  }
  BOOST_TEST(r.stats().syscalls.spawn == 0u);
  BOOST_TEST(r.size() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_sigkill_deadline_skips_the_grace_period, reaper_fixture) {
  gate g;
  auto o = gated_helper(g, 0);
  o.time_limit = deadline{20ms, SIGKILL, 1h, false};
  const pid_t pid = r.spawn(o, rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).signal() == SIGKILL);
  BOOST_TEST(rec.by_pid[pid].at(0).deadline_fired());
  BOOST_TEST(r.stats().syscalls.kill == 1u);
  BOOST_TEST(uv_loop_alive(&loop) == 0);  // the hour-long grace left no timer behind
}

// --- the clock: counted from the call, not from the start of the loop iteration -----

BOOST_FIXTURE_TEST_CASE(a_time_limit_is_counted_from_spawn_even_after_a_long_callback,
                        reaper_fixture) {
  gate g;
  pid_t pid = -1;
  // The callback works longer than the limit, then spawns: the loop's cached clock is
  // kWork behind by then.
  run_in_callback([&] {
    hold_loop_thread(kWork);
    auto o = gated_helper(g, 7);
    o.time_limit = deadline{kLimit, SIGTERM, 100ms, false};
    pid = r.spawn(o, rec.cb());
  });
  BOOST_REQUIRE(pid > 0);
  // One more iteration runs every timer that is due. A limit armed from the stale clock
  // would be, and would signal the child that is still blocked on the gate.
  uv_run(&loop, UV_RUN_NOWAIT);
  BOOST_TEST(r.stats().deadlines_fired == 0u);
  BOOST_TEST(r.stats().syscalls.kill == 0u);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.exited());
  BOOST_TEST(st.code() == 7);
  BOOST_TEST(!st.deadline_fired());
  BOOST_TEST(r.stats().syscalls.kill == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_close_grace_is_counted_from_close_even_after_long_startup_work,
                        reaper_fixture) {
  gate g;
  pipe_pair ready;
  const pid_t pid = r.spawn(term_ignoring(g, ready), [](const exit_status&) {});
  wait_ready(ready);
  // Start-up work with the loop not running: its cached clock is older than kWork.
  hold_loop_thread(kWork);
  bool closed = false;
  r.close(close_options::kill_children(kLimit), [&] { closed = true; });
  BOOST_TEST(r.stats().syscalls.kill == 1u);  // SIGTERM, ignored
  // A grace armed from the stale clock would be due now and send SIGKILL here.
  uv_run(&loop, UV_RUN_NOWAIT);
  BOOST_TEST(r.stats().syscalls.kill == 1u);
  BOOST_TEST(!closed);
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(r.stats().syscalls.kill == 2u);  // then SIGKILL, once the grace is over
  BOOST_TEST(r.stats().signals_skipped == 0u);
  BOOST_TEST(::kill(pid, 0) == -1);
}

// --- a child whose exit is already waiting is never signalled or flagged ------------

BOOST_FIXTURE_TEST_CASE(a_child_that_exited_while_the_loop_was_busy_is_not_signalled,
                        reaper_fixture) {
  gate g;
  auto o = gated_helper(g, 7);
  o.time_limit = deadline{300ms, SIGTERM, 10s, false};
  const pid_t pid = r.spawn(o, rec.cb());
  g.open();
  wait_until_zombie(pid);  // it has exited; nothing has read its SIGCHLD or pidfd yet
  // The loop thread is busy past the limit. libuv runs timers before it polls for I/O,
  // so the limit comes due while the exit is still unread.
  hold_loop_thread(400ms);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.exited());
  BOOST_TEST(st.code() == 7);
  BOOST_TEST(!st.deadline_fired());
  BOOST_TEST(r.stats().syscalls.kill == 0u);
  BOOST_TEST(r.stats().deadlines_fired == 0u);
  BOOST_TEST(r.stats().signals_skipped == 1u);
  BOOST_TEST(uv_loop_alive(&loop) == 0);  // nothing of the limit is left
}

BOOST_FIXTURE_TEST_CASE(the_sigkill_step_skips_a_child_that_exited_during_the_grace,
                        reaper_fixture) {
  gate g;
  pipe_pair ready;
  auto o = term_ignoring(g, ready);
  o.time_limit = deadline{1ms, SIGTERM, 300ms, false};
  const pid_t pid = r.spawn(o, rec.cb());
  wait_ready(ready);
  // Non-blocking iterations: a blocking one would sleep through the grace and run the
  // SIGKILL step in the same uv_run.
  BOOST_REQUIRE(run_nowait_until([&] { return r.stats().deadlines_fired == 1; }));
  BOOST_TEST(r.stats().syscalls.kill == 1u);  // SIGTERM, ignored
  g.open();
  wait_until_zombie(pid);  // it exits on its own during the grace
  hold_loop_thread(400ms);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.exited());
  BOOST_TEST(st.code() == 0);
  BOOST_TEST(st.deadline_fired());  // the first signal did go out
  BOOST_TEST(r.stats().syscalls.kill == 1u);
  BOOST_TEST(r.stats().signals_skipped == 1u);
}

BOOST_FIXTURE_TEST_CASE(close_sends_no_sigkill_to_a_child_that_exited_during_the_grace,
                        reaper_fixture) {
  gate g;
  pipe_pair ready;
  const pid_t pid = r.spawn(term_ignoring(g, ready), [](const exit_status&) {});
  wait_ready(ready);
  bool closed = false;
  r.close(close_options::kill_children(300ms), [&] { closed = true; });
  BOOST_TEST(r.stats().syscalls.kill == 1u);  // SIGTERM, ignored
  g.open();
  wait_until_zombie(pid);
  hold_loop_thread(400ms);  // past the grace, the exit unread
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(r.stats().syscalls.kill == 1u);
  BOOST_TEST(r.stats().signals_skipped == 1u);
  BOOST_TEST(no_zombies());
}

BOOST_FIXTURE_TEST_CASE(close_signals_no_child_whose_exit_is_already_waiting, reaper_fixture) {
  gate g;
  const pid_t pid = r.spawn(gated_helper(g, 0), [](const exit_status&) {});
  g.open();
  wait_until_zombie(pid);
  bool closed = false;
  r.close(close_options::kill_children(10s), [&] { closed = true; });
  BOOST_TEST(r.stats().syscalls.kill == 0u);
  BOOST_TEST(r.stats().signals_skipped == 1u);
  BOOST_REQUIRE(run_until([&] { return closed; }));  // at once: nothing left to wait for
  BOOST_TEST(r.stats().syscalls.kill == 0u);
  BOOST_TEST(no_zombies());
}

BOOST_FIXTURE_TEST_CASE(a_negative_close_grace_counts_as_zero, reaper_fixture) {
  gate g;
  pipe_pair ready;
  const pid_t pid = r.spawn(term_ignoring(g, ready), [](const exit_status&) {});
  wait_ready(ready);
  bool closed = false;
  r.close(close_options::kill_children(-5ms), [&] { closed = true; });
  // Not a grace of 2^64 - 5 ms: SIGKILL follows at once.
  BOOST_REQUIRE(run_until([&] { return closed; }, 30s));
  BOOST_TEST(r.stats().syscalls.kill == 2u);
  BOOST_TEST(::kill(pid, 0) == -1);
}

BOOST_AUTO_TEST_SUITE_END()
