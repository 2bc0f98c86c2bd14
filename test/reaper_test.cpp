// SPDX-License-Identifier: MIT
// uvreap tests: the reaper's contracts — watch, kill, close, re-entrancy, exceptions,
// loop references, policy `all`, and coexistence with uv_spawn and other loops.
#include "uvreap/reaper.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace {

// A forked child that ignores SIGTERM and says so through a pipe before blocking on `g`,
// so the test knows SIGTERM will not end it.
pid_t fork_term_ignoring(const gate& g) {
  int ready[2];
  BOOST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGTERM, SIG_IGN);
    if (::write(ready[1], "r", 1) != 1) ::_exit(90);
    g.child_wait_and_exit(0);
  }
  ::close(ready[1]);
  char c;
  ssize_t n;
  do {
    n = ::read(ready[0], &c, 1);
  } while (n < 0 && errno == EINTR);
  ::close(ready[0]);
  BOOST_REQUIRE(n == 1);
  return pid;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(reaper_suite, loop_fixture)

// ---- construction ----

BOOST_AUTO_TEST_CASE(construction_rejects_a_null_loop_and_a_zero_batch) {
  std::error_code ec;
  BOOST_TEST(!reaper::create(nullptr, {}, ec).has_value());
  BOOST_TEST(ec == std::errc::invalid_argument);
  options o;
  o.max_batch = 0;
  BOOST_TEST(!reaper::create(&loop, o, ec).has_value());
  BOOST_TEST(ec == std::errc::invalid_argument);
  BOOST_CHECK_THROW(reaper(nullptr), std::system_error);
}

BOOST_AUTO_TEST_CASE(construction_refuses_an_ignored_sigchld) {
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  BOOST_REQUIRE(::sigaction(SIGCHLD, &ign, &old) == 0);
  std::error_code ec;
  const auto r = reaper::create(&loop, {}, ec);
  struct sigaction nocldwait {};
  nocldwait.sa_handler = SIG_DFL;
  nocldwait.sa_flags = SA_NOCLDWAIT;
  ::sigaction(SIGCHLD, &nocldwait, nullptr);
  std::error_code ec2;
  const auto r2 = reaper::create(&loop, {}, ec2);
  ::sigaction(SIGCHLD, &old, nullptr);
  BOOST_TEST(!r.has_value());
  BOOST_TEST(ec == std::errc::device_or_resource_busy);
  BOOST_TEST(!r2.has_value());
  BOOST_TEST(ec2 == std::errc::device_or_resource_busy);
}

BOOST_FIXTURE_TEST_CASE(the_reaper_runs_the_policy_the_suite_asked_for, reaper_fixture) {
  BOOST_TEST(r.reap_policy() == test_policy());  // pidfd_open exists on this kernel
}

// ---- watch ----

BOOST_FIXTURE_TEST_CASE(watch_adopts_a_forked_child, reaper_fixture) {
  gate g;
  const pid_t pid = fork_gated(g, 42);
  r.watch(pid, rec.cb());
  BOOST_TEST(r.watching(pid));
  g.open();
  run_until([&] { return rec.calls == 1; });
  BOOST_REQUIRE(rec.by_pid.count(pid) == 1u);
  BOOST_TEST(rec.by_pid[pid].size() == 1u);
  BOOST_TEST(rec.by_pid[pid][0].code() == 42);
  BOOST_TEST(!r.watching(pid));
}

// Not under policy all: its first sweep reaps the zombie as an orphan before watch
// (documented).
BOOST_AUTO_TEST_CASE(watch_of_a_zombie_delivers_on_the_next_iteration_never_inside_watch,
                     *precondition(policy_is_not_all)) {
  reaper r{&loop, test_options()};
  recorder rec;
  const pid_t pid = fork_exiting(5);
  wait_until_zombie(pid);
  // Let the SIGCHLD of that exit be consumed first, as it would be in a running server.
  run_to_completion();
  r.watch(pid, rec.cb());
  BOOST_TEST(rec.calls == 0u);
  run_until([&] { return rec.calls == 1; });
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 5);
}

BOOST_FIXTURE_TEST_CASE(watch_rejects_what_is_not_an_unreaped_child, reaper_fixture) {
  std::error_code ec;
  auto cb = [](const exit_status&) {};
  r.watch(0, cb, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.watch(-1, cb, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.watch(::getppid(), cb, ec);
  BOOST_TEST(ec == std::errc::no_child_process);
  r.watch(1, cb, ec);
  BOOST_TEST(ec == std::errc::no_child_process);
  r.watch(::getpid(), cb, ec);
  BOOST_TEST(ec == std::errc::no_child_process);
  // An already reaped child is no longer ours either.
  const pid_t gone = fork_exiting(0);
  BOOST_REQUIRE(::waitpid(gone, nullptr, 0) == gone);
  r.watch(gone, cb, ec);
  BOOST_TEST(ec == std::errc::no_child_process);
  BOOST_TEST(r.size() == 0u);
  BOOST_CHECK_THROW(r.watch(0, cb), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(watch_rejects_a_pid_twice_and_an_empty_callback, reaper_fixture) {
  gate g;
  const pid_t pid = fork_gated(g, 0);
  std::error_code ec;
  r.watch(pid, exit_callback{}, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.watch(pid, rec.cb(), ec);
  BOOST_TEST(!ec);
  r.watch(pid, rec.cb(), ec);
  BOOST_TEST(ec == std::errc::device_or_resource_busy);
  g.open();
  run_until([&] { return rec.calls == 1; });
  run_to_completion();
  BOOST_TEST(rec.calls == 1u);
}

// ---- kill ----

BOOST_FIXTURE_TEST_CASE(kill_signals_an_owned_child, reaper_fixture) {
  gate g;
  const pid_t pid = r.spawn(gated_helper(g, 0), rec.cb());
  r.kill(pid, SIGTERM);
  run_until([&] { return rec.calls == 1; });
  BOOST_TEST(rec.by_pid[pid].at(0).signaled());
  BOOST_TEST(rec.by_pid[pid].at(0).signal() == SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(kill_after_reap_is_esrch_and_makes_no_syscall, reaper_fixture) {
  const pid_t pid = r.spawn(helper_options({"exit", "0"}), rec.cb());
  run_until([&] { return rec.calls == 1; });
  const auto before = r.stats().syscalls.kill;
  std::error_code ec;
  r.kill(pid, SIGKILL, ec);
  BOOST_TEST(ec == std::errc::no_such_process);
  BOOST_TEST(r.stats().syscalls.kill == before);
  // A pid never owned: also ESRCH, also no syscall.
  r.kill(::getppid(), SIGTERM, ec);
  BOOST_TEST(ec == std::errc::no_such_process);
  BOOST_TEST(r.stats().syscalls.kill == before);
  BOOST_CHECK_THROW(r.kill(pid, SIGKILL), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(kill_rejects_bad_signal_numbers, reaper_fixture) {
  gate g;
  const pid_t pid = fork_gated(g, 0);
  r.watch(pid, rec.cb());
  std::error_code ec;
  r.kill(pid, -1, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.kill(pid, 4096, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.kill(pid, 0, ec);  // probe
  BOOST_TEST(!ec);
  g.open();
  run_until([&] { return rec.calls == 1; });
}

// ---- loop references ----

BOOST_FIXTURE_TEST_CASE(an_idle_reaper_does_not_keep_the_loop_alive, reaper_fixture) {
  bool stuck = false;
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  t.data = &stuck;
  uv_timer_start(
      &t,
      [](uv_timer_t* h) {
        *static_cast<bool*>(h->data) = true;
        uv_stop(h->loop);
      },
      10'000, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&t));
  uv_run(&loop, UV_RUN_DEFAULT);
  BOOST_TEST(!stuck);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);
}

BOOST_FIXTURE_TEST_CASE(a_reaper_with_a_child_keeps_the_loop_alive_until_its_callback,
                        reaper_fixture) {
  r.spawn(helper_options({"exit", "3"}), rec.cb());
  BOOST_TEST(run_to_completion());  // uv_run(DEFAULT) returns only when nothing is left
  BOOST_TEST(rec.calls == 1u);
}

// ---- dispatch: re-entrancy, exceptions ----

BOOST_FIXTURE_TEST_CASE(a_callback_may_spawn_watch_and_kill_on_its_own_reaper, reaper_fixture) {
  int chain = 0;
  std::set<pid_t> seen;
  std::function<void(const exit_status&)> next = [&](const exit_status& s) {
    BOOST_TEST(seen.insert(s.pid()).second);
    if (++chain < 10) r.spawn(helper_options({"exit", std::to_string(chain)}), next);
  };
  r.spawn(helper_options({"exit", "0"}), next);
  run_until([&] { return chain == 10; });

  // watch + kill from inside a callback.
  recorder rec;
  gate g;
  const pid_t victim = fork_gated(g, 0);
  const pid_t adopted = fork_gated(g, 0);
  r.watch(victim, rec.cb());
  r.spawn(helper_options({"exit", "1"}), [&](const exit_status&) {
    r.kill(victim, SIGKILL);
    r.watch(adopted, rec.cb());
  });
  run_until([&] { return rec.calls == 1; });
  BOOST_TEST(rec.by_pid[victim].at(0).signal() == SIGKILL);
  g.open();
  run_until([&] { return rec.calls == 2; });
  BOOST_TEST(rec.by_pid[adopted].at(0).code() == 0);
}

BOOST_FIXTURE_TEST_CASE(close_from_a_callback_stops_the_rest_of_the_batch_and_reaps_it,
                        reaper_fixture) {
  gate g;
  int calls = 0;
  bool closed = false;
  for (int i = 0; i < 3; ++i) {
    r.watch(fork_gated(g, i), [&](const exit_status&) {
      ++calls;
      r.close({}, [&] { closed = true; });
    });
  }
  // All three become zombies before the loop looks, so one sweep batches them.
  g.open();
  for (pid_t p : children_census())
    wait_until_zombie(p);
  run_until([&] { return closed; });
  BOOST_TEST(calls == 1);
  BOOST_TEST(r.stats().exits_reaped == 3u);
  BOOST_TEST(no_zombies());
}

BOOST_AUTO_TEST_CASE(a_closed_reaper_holds_no_fd_while_its_object_lives_on) {
  // A garbage-collected wrapper (the Node addon) may keep the object long after close:
  // policy pidfd's epoll fd must not wait for it.
  const int before = open_fd_count();
  const int n = test_policy() == policy::all ? 1 : 8;  // one `all` per process
  std::vector<std::unique_ptr<reaper>> kept;
  for (int i = 0; i < n; ++i)
    kept.push_back(std::make_unique<reaper>(&loop, test_options()));
  int closed = 0;
  for (auto& r : kept)
    r->close(close_options::leave_running(), [&] { ++closed; });
  BOOST_REQUIRE(run_until([&] { return closed == n; }));
  BOOST_TEST(open_fd_count() == before);
  kept.clear();
}

BOOST_AUTO_TEST_CASE(a_callback_may_destroy_its_reaper) {
  auto r = std::make_unique<reaper>(&loop, test_options());
  gate g;
  int calls = 0;
  for (int i = 0; i < 3; ++i) {
    r->watch(fork_gated(g, i), [&](const exit_status&) {
      ++calls;
      r.reset();
    });
  }
  g.open();
  for (pid_t p : children_census())
    wait_until_zombie(p);
  run_until([&] { return r == nullptr; });
  BOOST_TEST(run_to_completion());
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(a_throwing_callback_does_not_stop_the_batch_or_the_reaper) {
  std::vector<pid_t> thrown_for;
  options o;
  o.on_exception = [&](std::exception_ptr e, pid_t pid) {
    thrown_for.push_back(pid);
    BOOST_CHECK_THROW(std::rethrow_exception(e), std::runtime_error);
  };
  reaper r{&loop, o};
  gate g;
  int calls = 0;
  for (int i = 0; i < 3; ++i) {
    r.watch(fork_gated(g, i), [&](const exit_status& s) {
      if (++calls == 1) throw std::runtime_error("boom " + std::to_string(s.pid()));
    });
  }
  g.open();
  for (pid_t p : children_census())
    wait_until_zombie(p);
  run_until([&] { return calls == 3; });
  BOOST_TEST(thrown_for.size() == 1u);
  BOOST_TEST(r.stats().callback_exceptions == 1u);
  // The reaper still works.
  bool again = false;
  r.spawn(helper_options({"exit", "0"}), [&](const exit_status&) { again = true; });
  run_until([&] { return again; });
}

BOOST_FIXTURE_TEST_CASE(without_a_hook_a_throwing_callback_is_logged_and_survived, reaper_fixture) {
  int calls = 0;
  r.spawn(helper_options({"exit", "0"}), [&](const exit_status&) {
    ++calls;
    throw 42;  // not even a std::exception
  });
  run_until([&] { return calls == 1; });
  BOOST_TEST(r.stats().callback_exceptions == 1u);
  BOOST_TEST(!r.closed());
}

// ---- close ----

BOOST_FIXTURE_TEST_CASE(close_leave_running_makes_no_callback_and_does_not_touch_the_child,
                        reaper_fixture) {
  gate g;
  const pid_t pid = fork_gated(g, 0);
  r.watch(pid, rec.cb());
  bool closed = false;
  BOOST_TEST(r.close(close_options::leave_running(), [&] { closed = true; }));
  BOOST_TEST(!r.close());  // idempotent
  BOOST_TEST(r.closed());
  BOOST_TEST(run_to_completion());
  BOOST_TEST(closed);
  BOOST_TEST(::kill(pid, 0) == 0);  // still running, still ours to reap
  g.open();
  int st = 0;
  BOOST_TEST(::waitpid(pid, &st, 0) == pid);
  BOOST_TEST(rec.calls == 0u);
  std::error_code ec;
  r.spawn(helper_options({"exit", "0"}), rec.cb(), ec);
  BOOST_TEST(ec == estale);
  r.watch(pid, rec.cb(), ec);
  BOOST_TEST(ec == estale);
}

BOOST_FIXTURE_TEST_CASE(close_terminate_kills_reaps_and_then_calls_on_closed, reaper_fixture) {
  gate g;
  const pid_t plain = fork_gated(g, 0);
  const pid_t stubborn = fork_term_ignoring(g);
  const pid_t zombie = fork_exiting(9);
  wait_until_zombie(zombie);
  r.watch(plain, rec.cb());
  r.watch(stubborn, rec.cb());
  r.watch(zombie, rec.cb());
  bool closed = false;
  r.close(close_options::kill_children(std::chrono::milliseconds{200}), [&] { closed = true; });
  BOOST_TEST(run_to_completion());
  BOOST_TEST(closed);
  BOOST_TEST(rec.calls == 0u);
  BOOST_TEST(r.stats().exits_reaped == 3u);
  BOOST_TEST(no_zombies());
  BOOST_TEST(children_census().empty());
}

BOOST_FIXTURE_TEST_CASE(
    after_a_shutdown_walk_closed_its_handles_close_still_kills_reaps_and_calls_back,
    reaper_fixture) {
  gate g;
  const pid_t spawned = r.spawn(gated_helper(g, 0), rec.cb());
  const pid_t stubborn = fork_term_ignoring(g);
  r.watch(stubborn, rec.cb());
  close_every_handle(&loop);
  BOOST_TEST(run_to_completion());  // the walk ended the loop: nothing of ours is left open
  BOOST_TEST(::kill(spawned, 0) == 0);
  bool closed = false;
  BOOST_TEST(r.close(close_options::kill_children(std::chrono::milliseconds{200}),
                     [&] { closed = true; }));
  BOOST_TEST(run_to_completion());
  BOOST_TEST(closed);
  BOOST_TEST(rec.calls == 0u);
  BOOST_TEST(r.stats().exits_reaped == 2u);
  BOOST_TEST(r.stats().handles_renewed == 1u);
  BOOST_TEST(no_zombies());
  BOOST_TEST(children_census().empty());
  BOOST_TEST(uv_loop_alive(&loop) == 0);
}

BOOST_FIXTURE_TEST_CASE(after_a_shutdown_walk_a_close_that_leaves_children_running_calls_back,
                        reaper_fixture) {
  gate g;
  const pid_t pid = r.spawn(gated_helper(g, 4), rec.cb());
  close_every_handle(&loop);  // and close before the loop has finished those closes
  bool closed = false;
  BOOST_TEST(r.close(close_options::leave_running(), [&] { closed = true; }));
  BOOST_TEST(!closed);  // never from inside close
  BOOST_TEST(run_to_completion());
  BOOST_TEST(closed);
  BOOST_TEST(::kill(pid, 0) == 0);  // left running, ours to reap
  g.open();
  int st = 0;
  BOOST_TEST(::waitpid(pid, &st, 0) == pid);
  BOOST_TEST(WEXITSTATUS(st) == 4);
  BOOST_TEST(rec.calls == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_shutdown_walk_during_a_terminating_close_passes_over_the_reaper,
                        reaper_fixture) {
  gate g;
  r.spawn(gated_helper(g, 0), rec.cb());
  r.watch(fork_term_ignoring(g), rec.cb());
  bool closed = false;
  r.close(close_options::kill_children(std::chrono::milliseconds{200}), [&] { closed = true; });
  // A shutdown that walks and runs until the loop is empty, again and again (as one that
  // retries uv_loop_close does): every pass sees the reaper closing or not at all.
  for (int i = 0; i < 100 && !closed; ++i) {
    close_every_handle(&loop);
    BOOST_TEST(run_to_completion());
  }
  BOOST_TEST(closed);
  BOOST_TEST(rec.calls == 0u);
  BOOST_TEST(r.stats().exits_reaped == 2u);
  BOOST_TEST(r.stats().handles_renewed == 0u);
  BOOST_TEST(children_census().empty());
}

BOOST_FIXTURE_TEST_CASE(an_open_reaper_whose_handles_a_walk_closed_works_on_at_its_next_call,
                        reaper_fixture) {
  gate g;
  const pid_t before = r.spawn(gated_helper(g, 3), rec.cb());
  close_every_handle(&loop);
  BOOST_TEST(run_to_completion());
  g.open();  // it exits while the reaper has no handle: nothing looks until the next call
  wait_until_zombie(before);
  const pid_t after = r.spawn(helper_options({"exit", "5"}), rec.cb());
  BOOST_TEST(r.stats().handles_renewed == 1u);
  BOOST_TEST(run_until([&] { return rec.calls == 2; }));
  BOOST_TEST(rec.by_pid[before].at(0).code() == 3);
  BOOST_TEST(rec.by_pid[after].at(0).code() == 5);
  BOOST_TEST(no_zombies());
}

BOOST_AUTO_TEST_CASE(a_reaper_destroyed_after_a_shutdown_walk_terminates_and_reaps) {
  gate g;
  int renewed = 0;
  {
    reaper r{&loop, test_options()};
    r.spawn(gated_helper(g, 0), [](const exit_status&) {});
    r.watch(fork_term_ignoring(g), [](const exit_status&) {});
    close_every_handle(&loop);
    BOOST_TEST(run_to_completion());
    std::error_code ec;
    r.kill(1, 0, ec);  // not a registration: the handles stay as the walk left them
    renewed = static_cast<int>(r.stats().handles_renewed);
  }
  BOOST_TEST(renewed == 0);
  BOOST_TEST(run_to_completion());
  BOOST_TEST(children_census().empty());
}

BOOST_AUTO_TEST_CASE(the_destructor_terminates_and_reaps_by_default) {
  gate g;
  {
    reaper r{&loop, test_options()};
    for (int i = 0; i < 5; ++i)
      r.watch(fork_gated(g, 0), [](const exit_status&) {});
    r.spawn(gated_helper(g, 0), [](const exit_status&) {});
  }
  BOOST_TEST(run_to_completion());
  BOOST_TEST(children_census().empty());
}

BOOST_AUTO_TEST_CASE(a_moved_from_reaper_is_closed_and_reports_estale) {
  reaper a{&loop, test_options()};
  reaper b{std::move(a)};
  BOOST_TEST(a.closed());  // NOLINT(bugprone-use-after-move): the documented state
  BOOST_TEST(!b.closed());
  std::error_code ec;
  a.watch(
      1, [](const exit_status&) {}, ec);
  BOOST_TEST(ec == estale);
  bool again = false;
  b.spawn(helper_options({"exit", "0"}), [&](const exit_status&) { again = true; });
  run_until([&] { return again; });
}

BOOST_FIXTURE_TEST_CASE(in_a_forked_child_the_parents_reaper_refuses_with_echild, reaper_fixture) {
  gate g;
  const pid_t mine = fork_gated(g, 0);
  r.watch(mine, rec.cb());
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    // No Boost here: report through the exit code. Bits: 1 kill, 2 watch, 4 spawn.
    int bad = 0;
    std::error_code ec;
    r.kill(mine, SIGKILL, ec);
    if (ec != std::errc::no_child_process) bad |= 1;
    r.watch(
        mine, [](const exit_status&) {}, ec);
    if (ec != std::errc::no_child_process) bad |= 2;
    spawn_options o;
    o.argv = {"/bin/true"};
    r.spawn(
        o, [](const exit_status&) {}, ec);
    if (ec != std::errc::no_child_process) bad |= 4;
    ::_exit(bad);
  }
  int st = 0;
  BOOST_REQUIRE(::waitpid(child, &st, 0) == child);
  BOOST_TEST(WIFEXITED(st));
  BOOST_TEST(WEXITSTATUS(st) == 0, "bits of the calls that did not refuse: " << WEXITSTATUS(st));
  BOOST_TEST(::kill(mine, 0) == 0);  // the forked child did not touch it
  g.open();
  run_until([&] { return rec.calls == 1; });
  BOOST_TEST(rec.by_pid[mine].at(0).code() == 0);
}

// ---- policy all ----

BOOST_AUTO_TEST_CASE(policy_all_reaps_orphans_and_is_one_per_process) {
  std::vector<exit_status> orphans;
  options o;
  o.reap_policy = policy::all;
  o.on_orphan = [&](const exit_status& s) { orphans.push_back(s); };
  {
    reaper r{&loop, o};
    std::error_code ec;
    BOOST_TEST(!reaper::create(&loop, o, ec).has_value());
    BOOST_TEST(ec == std::errc::device_or_resource_busy);

    recorder rec;
    gate g;
    const pid_t mine = fork_gated(g, 1);
    r.watch(mine, rec.cb());
    const pid_t stray = fork_gated(g, 2);  // nobody watches it
    g.open();
    run_until([&] { return rec.calls == 1 && orphans.size() == 1; });
    BOOST_TEST(rec.by_pid[mine].at(0).code() == 1);
    BOOST_TEST(orphans.at(0).pid() == stray);
    BOOST_TEST(orphans.at(0).code() == 2);
    BOOST_TEST(r.stats().orphans_reaped == 1u);
    r.close();
  }
  run_to_completion();
  // Closed: the next one may claim the process.
  std::error_code ec;
  auto again = reaper::create(&loop, o, ec);
  BOOST_TEST(again.has_value());
}

BOOST_AUTO_TEST_CASE(policy_all_reaps_children_that_exited_before_it_started) {
  const pid_t early = fork_exiting(4);
  wait_until_zombie(early);
  std::vector<exit_status> orphans;
  options o;
  o.reap_policy = policy::all;
  o.on_orphan = [&](const exit_status& s) { orphans.push_back(s); };
  reaper r{&loop, o};
  BOOST_TEST(orphans.empty());  // never from inside the constructor
  uv_run(&loop, UV_RUN_NOWAIT);
  BOOST_REQUIRE(orphans.size() == 1u);
  BOOST_TEST(orphans[0].pid() == early);
  BOOST_TEST(orphans[0].code() == 4);
}

// ---- coexistence ----

// Not under policy all: it takes uv_spawn's children (the next case says how).
BOOST_AUTO_TEST_CASE(uv_spawn_on_the_same_loop_keeps_its_exit_cb_under_policy_own,
                     *precondition(policy_is_not_all)) {
  reaper r{&loop, test_options()};
  recorder rec;
  struct uv_child {
    uv_process_t proc{};
    bool exited = false;
    int64_t status = -1;
  };
  std::vector<std::unique_ptr<uv_child>> uv_children;
  for (int i = 0; i < 20; ++i) {
    auto c = std::make_unique<uv_child>();
    char sh[] = "/bin/sh";
    char dash_c[] = "-c";
    std::string script = "exit " + std::to_string(10 + i);
    char* args[] = {sh, dash_c, script.data(), nullptr};
    uv_process_options_t po{};
    po.file = "/bin/sh";
    po.args = args;
    po.exit_cb = [](uv_process_t* p, int64_t status, int) {
      auto* self = static_cast<uv_child*>(p->data);
      self->exited = true;
      self->status = status;
      uv_close(reinterpret_cast<uv_handle_t*>(p), nullptr);
    };
    c->proc.data = c.get();
    BOOST_REQUIRE_EQUAL(uv_spawn(&loop, &c->proc, &po), 0);
    uv_children.push_back(std::move(c));
    r.spawn(helper_options({"exit", std::to_string(i)}), rec.cb());
  }
  run_until([&] {
    if (rec.calls != 20) return false;
    for (auto& c : uv_children) {
      if (!c->exited) return false;
    }
    return true;
  });
  for (std::size_t i = 0; i < uv_children.size(); ++i) {
    BOOST_TEST(uv_children[i]->status == static_cast<int64_t>(10 + i));
  }
  BOOST_TEST(r.stats().lost == 0u);
  run_to_completion();
}

// What docs/contracts.md says of `all` beside uv_spawn: whichever SIGCHLD watcher sweeps first takes
// each uv_spawn child. libuv's sweep reaps it (its exit_cb fires, on_orphan never sees it)
// or ours does (on_orphan gets it, and its exit_cb never fires: the uv_process_t stays
// active until closed). Exactly one of the two, for every child; never both, never none.
BOOST_AUTO_TEST_CASE(uv_spawn_beside_policy_all_each_exit_reaches_exit_cb_or_on_orphan_once,
                     *precondition(policy_is_all)) {
  std::map<pid_t, int> orphan_codes;
  auto o = test_options();
  o.on_orphan = [&](const exit_status& s) { orphan_codes[s.pid()] = s.code(); };
  reaper r{&loop, o};
  struct uv_child {
    uv_process_t proc{};
    int exit_cbs = 0;
    int64_t status = -1;
  };
  std::vector<std::unique_ptr<uv_child>> kids;
  for (int i = 0; i < 20; ++i) {
    auto c = std::make_unique<uv_child>();
    char sh[] = "/bin/sh";
    char dash_c[] = "-c";
    std::string script = "exit " + std::to_string(10 + i);
    char* args[] = {sh, dash_c, script.data(), nullptr};
    uv_process_options_t po{};
    po.file = "/bin/sh";
    po.args = args;
    po.exit_cb = [](uv_process_t* p, int64_t status, int) {
      auto* self = static_cast<uv_child*>(p->data);
      ++self->exit_cbs;
      self->status = status;
    };
    c->proc.data = c.get();
    BOOST_REQUIRE_EQUAL(uv_spawn(&loop, &c->proc, &po), 0);
    kids.push_back(std::move(c));
  }
  auto settled = [&] {
    for (auto& c : kids) {
      if (c->exit_cbs == 0 && orphan_codes.count(c->proc.pid) == 0) return false;
    }
    return true;
  };
  BOOST_REQUIRE(run_until(settled));
  int by_libuv = 0;
  for (std::size_t i = 0; i < kids.size(); ++i) {
    const auto& c = *kids[i];
    const bool orphan = orphan_codes.count(c.proc.pid) != 0;
    BOOST_TEST((c.exit_cbs == 1) != orphan, "pid " << c.proc.pid << ": exactly one of the two");
    BOOST_TEST(c.exit_cbs <= 1);
    BOOST_TEST((orphan ? orphan_codes[c.proc.pid] : c.status) == static_cast<int64_t>(10 + i));
    by_libuv += c.exit_cbs;
  }
  BOOST_TEST_MESSAGE(by_libuv << " of 20 reached exit_cb, the rest on_orphan");
  BOOST_TEST(no_zombies());
  for (auto& c : kids)
    uv_close(reinterpret_cast<uv_handle_t*>(&c->proc), nullptr);  // taken ones stay active
  run_to_completion();
}

// Not under policy all: one per process.
BOOST_AUTO_TEST_CASE(two_reapers_on_two_loops_in_two_threads_see_only_their_own,
                     *precondition(policy_is_not_all)) {
  constexpr int kEach = 300;
  struct result {
    std::set<pid_t> spawned;
    std::map<pid_t, int> delivered;
    std::uint64_t lost = 0;
    bool ok = true;
  };
  result results[2];
  auto worker = [&](result& out, int code) {
    uv_loop_t l;
    uv_loop_init(&l);
    {
      reaper r{&l, test_options()};
      gate g;
      for (int i = 0; i < kEach; ++i) {
        const pid_t pid = fork_gated(g, code);
        out.spawned.insert(pid);
        r.watch(pid, [&](const exit_status& s) {
          ++out.delivered[s.pid()];
          if (!s.exited() || s.code() != code) out.ok = false;
        });
      }
      g.open();
      while (out.delivered.size() < out.spawned.size())
        uv_run(&l, UV_RUN_ONCE);
      out.lost = r.stats().lost;
    }
    uv_run(&l, UV_RUN_DEFAULT);
    if (uv_loop_close(&l) != 0) out.ok = false;
  };
  std::thread a(worker, std::ref(results[0]), 11);
  std::thread b(worker, std::ref(results[1]), 22);
  a.join();
  b.join();
  for (auto& res : results) {
    BOOST_TEST(res.ok);
    BOOST_TEST(res.lost == 0u);
    BOOST_TEST(res.delivered.size() == static_cast<std::size_t>(kEach));
    for (const auto& [pid, n] : res.delivered) {
      BOOST_TEST(n == 1);
      BOOST_TEST(res.spawned.count(pid) == 1u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
