// SPDX-License-Identifier: MIT
// uvreap tests: the reliability catalogue (test/RELIABILITY.md) — time limits, subreaper
// mode, SIGCHLD blocked, clobbered, spurious or coalesced, stopped children, a full
// self-pipe, and the other scenarios that bit event-loop reapers before.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grp.h>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
using namespace std::chrono_literals;

namespace {

// A shell whose stdin is `g`'s read end and whose stdout is `out`'s write end.
spawn_options gated_shell(const std::string& script, const gate& g, const pipe_pair& out) {
  spawn_options o = shell(script);
  o.stdio_map[0] = stdio::from_fd(g.read_fd());
  o.stdio_map[1] = stdio::from_fd(out.wr);
  return o;
}

// Blocks SIGCHLD in the calling thread for the lifetime of the object.
struct sigchld_blocked {
  sigset_t old{};
  sigchld_blocked() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    BOOST_REQUIRE(::pthread_sigmask(SIG_BLOCK, &s, &old) == 0);
  }
  ~sigchld_blocked() { ::pthread_sigmask(SIG_SETMASK, &old, nullptr); }
};

boost::test_tools::assertion_result ns_last_pid_writable(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::access("/proc/sys/kernel/ns_last_pid", W_OK) == 0);
  r.message() << "/proc/sys/kernel/ns_last_pid is not writable";
  return r;
}

boost::test_tools::assertion_result strace_installed(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::access("/usr/bin/strace", X_OK) == 0);
  r.message() << "strace is not installed";
  return r;
}

// Makes the kernel hand out `pid` next (root only; false when not allowed).
bool next_pid_will_be(pid_t pid) {
  std::ofstream f("/proc/sys/kernel/ns_last_pid");
  f << pid - 1;
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(hardening_suite, loop_fixture)

// --- SIGCHLD: spurious, coalesced, blocked, clobbered, shared ----------------------

BOOST_FIXTURE_TEST_CASE(spurious_sigchld_makes_no_callback, reaper_fixture) {
  gate g;
  for (int i = 0; i < 5; ++i)
    r.spawn(gated_helper(g, i), rec.cb());
  for (int i = 0; i < 10000; ++i)
    ::kill(::getpid(), SIGCHLD);
  run_for(200ms);
  BOOST_TEST(rec.calls == 0u);
  BOOST_TEST(r.size() == 5u);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 5; }));
}

BOOST_FIXTURE_TEST_CASE(many_exits_behind_one_sigchld_are_all_delivered, reaper_fixture) {
  std::vector<pid_t> pids;
  {
    sigchld_blocked blocked;  // every exit below raises the same, single pending SIGCHLD
    gate g;
    for (int i = 0; i < 200; ++i)
      pids.push_back(r.spawn(gated_helper(g, i), rec.cb()));
    g.open();
    for (pid_t p : pids)
      wait_until_zombie(p);
  }
  BOOST_REQUIRE(run_until([&] { return rec.calls == 200; }));
  for (std::size_t i = 0; i < pids.size(); ++i) {
    BOOST_TEST(rec.by_pid[pids[i]].size() == 1u);
    BOOST_TEST(rec.by_pid[pids[i]].at(0).code() == static_cast<int>(i));
  }
}

BOOST_AUTO_TEST_CASE(sigchld_blocked_at_construction_falls_back_to_polling) {
  sigchld_blocked blocked;  // the only thread of the test: no SIGCHLD reaches the loop
  reaper r{&loop, test_options()};
  BOOST_TEST(r.poll_interval() == 100ms);
  uv_run(&loop, UV_RUN_NOWAIT);  // the start-up sweep, so only the poll can find the exit
  recorder rec;
  const pid_t pid = r.spawn(helper_options({"exit", "3"}), rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 3);
  if (r.reap_policy() != policy::pidfd) BOOST_TEST(r.stats().poll_sweeps >= 1u);
}

BOOST_AUTO_TEST_CASE(without_blocked_sigchld_there_is_no_poll_unless_asked) {
  reaper quiet{&loop, test_options()};
  BOOST_TEST(quiet.poll_interval() == 0ms);
  auto o = test_options();
  o.poll_interval = -1ms;
  std::error_code ec;
  BOOST_TEST(!reaper::create(&loop, o, ec));
  BOOST_TEST(ec == std::errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_replaced_sigchld_handler_is_survived_with_a_poll_interval) {
  auto o = test_options();
  o.poll_interval = 20ms;
  reaper r{&loop, o};
  struct sigaction libuv_handler {};
  BOOST_REQUIRE(::sigaction(SIGCHLD, nullptr, &libuv_handler) == 0);
  ::signal(SIGCHLD, SIG_DFL);    // what an embedder's stray signal() call does
  uv_run(&loop, UV_RUN_NOWAIT);  // the start-up sweep, so only the poll can find the exit
  recorder rec;
  const pid_t pid = r.spawn(helper_options({"exit", "4"}), rec.cb());
  const bool ok = run_until([&] { return rec.calls == 1; });
  ::sigaction(SIGCHLD, &libuv_handler, nullptr);
  BOOST_REQUIRE(ok);
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 4);
  if (r.reap_policy() != policy::pidfd) BOOST_TEST(r.stats().poll_sweeps >= 1u);
}

// RELIABILITY.md row 2, a full pipe of other signals: libuv's signal handler writes one
// message per caught signal into the loop's non-blocking pipe and drops it on EAGAIN.
// 5,000 queued real-time signals for another watcher fill the pipe (4,096 messages),
// and the SIGCHLD of a child that exited meanwhile is dropped: only the safety sweep can
// find that exit.
BOOST_AUTO_TEST_CASE(an_exit_whose_wakeup_a_signal_flood_dropped_is_still_delivered) {
  // The signals must stay pending in this thread until it lets them in, in order.
  int threads = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)e;
    ++threads;
  }
  BOOST_REQUIRE_MESSAGE(threads == 1, "the flood needs a single-threaded test process");
  const int rt = SIGRTMIN + 1;
  constexpr int kFlood = 5000;
  rlimit pending{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_SIGPENDING, &pending) == 0);
  if (pending.rlim_cur != RLIM_INFINITY && pending.rlim_cur < kFlood + 100) {
    pending.rlim_cur = kFlood + 100;
    if (pending.rlim_max != RLIM_INFINITY && pending.rlim_max < pending.rlim_cur) {
      pending.rlim_max = pending.rlim_cur;
    }
    BOOST_REQUIRE(::setrlimit(RLIMIT_SIGPENDING, &pending) == 0);
  }

  reaper r{&loop, test_options()};
  uv_run(&loop, UV_RUN_NOWAIT);  // the start-up sweep
  std::size_t rt_calls = 0;
  uv_signal_t rt_watch;
  BOOST_REQUIRE(uv_signal_init(&loop, &rt_watch) == 0);
  rt_watch.data = &rt_calls;
  BOOST_REQUIRE(
      uv_signal_start(
          &rt_watch, [](uv_signal_t* h, int) { ++*static_cast<std::size_t*>(h->data); }, rt) == 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&rt_watch));

  gate g;
  recorder rec;
  const pid_t pid = r.spawn(gated_helper(g, 7), rec.cb());

  sigset_t both, only_rt, only_chld;
  sigemptyset(&both);
  sigaddset(&both, rt);
  sigaddset(&both, SIGCHLD);
  sigemptyset(&only_rt);
  sigaddset(&only_rt, rt);
  sigemptyset(&only_chld);
  sigaddset(&only_chld, SIGCHLD);
  sigset_t old;
  BOOST_REQUIRE(::pthread_sigmask(SIG_BLOCK, &both, &old) == 0);
  int sent = 0;
  for (int i = 0; i < kFlood; ++i)
    sent += ::kill(::getpid(), rt) == 0 ? 1 : 0;  // real-time signals queue, one each
  BOOST_REQUIRE(sent == kFlood);
  g.open();
  wait_until_zombie(pid);  // its SIGCHLD is pending now, behind the mask
  // The kernel delivers the lowest-numbered pending signal first: let the flood in
  // alone, so that SIGCHLD comes after the pipe is full.
  BOOST_REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &only_rt, nullptr) == 0);
  int queued = 0;
  BOOST_REQUIRE(::ioctl(loop.signal_pipefd[0], FIONREAD, &queued) == 0);
  BOOST_REQUIRE_MESSAGE(queued == 65536, "libuv's signal pipe holds " << queued << " bytes");
  BOOST_REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &only_chld, nullptr) == 0);
  BOOST_REQUIRE(::pthread_sigmask(SIG_SETMASK, &old, nullptr) == 0);

  const bool ok = run_until([&] { return rec.calls == 1; }, 60s);
  uv_close(reinterpret_cast<uv_handle_t*>(&rt_watch), nullptr);
  BOOST_REQUIRE(ok);
  BOOST_TEST(rec.by_pid[pid].size() == 1u);
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 7);
  BOOST_TEST(rt_calls < static_cast<std::size_t>(kFlood));  // the flood did overflow
  if (r.reap_policy() != policy::pidfd) BOOST_TEST(r.stats().safety_sweeps >= 1u);
  run_to_completion();  // the rt watcher lives on this stack
}

BOOST_AUTO_TEST_CASE(the_safety_sweep_runs_only_while_a_child_is_owned) {
  auto o = test_options();
  o.safety_sweep = 5ms;
  reaper r{&loop, o};
  // Timers fire in the order they are due: a 5 ms repeating timer that was armed fires
  // before a 200 ms one, so "none fired" means "none was armed".
  uv_timer_t window;
  bool over = false;
  auto run_window = [&] {
    over = false;
    uv_timer_init(&loop, &window);
    window.data = &over;
    uv_timer_start(
        &window, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 200, 0);
    BOOST_REQUIRE(run_until([&] { return over; }));
    uv_close(reinterpret_cast<uv_handle_t*>(&window), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  };
  run_window();
  BOOST_TEST(r.stats().safety_sweeps == 0u);  // no child: no wake-up

  gate g;
  recorder rec;
  const pid_t pid = r.spawn(gated_helper(g, 0), rec.cb());
  run_window();
  if (r.reap_policy() == policy::pidfd) {
    BOOST_TEST(r.stats().safety_sweeps == 0u);  // its pidfd is the source, not SIGCHLD
  } else {
    BOOST_TEST(r.stats().safety_sweeps >= 1u);
  }
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 0);
  const auto after = r.stats().safety_sweeps;
  run_window();
  BOOST_TEST(r.stats().safety_sweeps == after);  // the last child is gone: no wake-up

  o.safety_sweep = -1ms;
  std::error_code ec;
  BOOST_TEST(!reaper::create(&loop, o, ec));
  BOOST_TEST(ec == std::errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(libuv_installs_its_handler_with_sa_restart_and_resets_it_to_default) {
  struct sigaction mine {};
  mine.sa_handler = [](int) {};
  struct sigaction before {};
  BOOST_REQUIRE(::sigaction(SIGCHLD, &mine, &before) == 0);
  {
    reaper r{&loop, test_options()};
    r.spawn(helper_options({"exit", "0"}), [](const exit_status&) {});
    struct sigaction now {};
    BOOST_REQUIRE(::sigaction(SIGCHLD, nullptr, &now) == 0);
    if (r.reap_policy() != policy::pidfd) {
      // Restartable calls in other threads are not interrupted by SIGCHLD.
      BOOST_TEST((now.sa_flags & SA_RESTART) != 0);
      BOOST_TEST(now.sa_handler != mine.sa_handler);
    }
    r.close(close_options::kill_children());
    run_to_completion();
  }
  struct sigaction after {};
  BOOST_REQUIRE(::sigaction(SIGCHLD, nullptr, &after) == 0);
  ::sigaction(SIGCHLD, &before, nullptr);
  // The documented behaviour: libuv resets SIGCHLD to SIG_DFL when its last watcher
  // stops; what was there before is not restored. Only `own`/`all` start a watcher.
  if (test_policy() != policy::pidfd) BOOST_TEST((after.sa_handler == SIG_DFL));
}

BOOST_AUTO_TEST_CASE(another_sigchld_watcher_one_shot_included_keeps_working) {
  uv_signal_t oneshot;
  int oneshot_calls = 0;
  uv_signal_init(&loop, &oneshot);
  oneshot.data = &oneshot_calls;
  BOOST_REQUIRE(
      uv_signal_start_oneshot(
          &oneshot, [](uv_signal_t* h, int) { ++*static_cast<int*>(h->data); }, SIGCHLD) == 0);
  reaper r{&loop, test_options()};
  // One record per callback, not per pid: B may be handed A's number once A is reaped
  // (another test process may rewind ns_last_pid), and each callback must get its own.
  recorder rec_a;
  recorder rec_b;
  const pid_t a = r.spawn(helper_options({"exit", "1"}), rec_a.cb());
  BOOST_REQUIRE(run_until([&] { return rec_a.calls == 1; }));
  const pid_t b = r.spawn(helper_options({"exit", "2"}), rec_b.cb());
  BOOST_REQUIRE(run_until([&] { return rec_b.calls == 1; }));
  BOOST_TEST(rec_a.calls == 1u);
  BOOST_TEST(rec_a.by_pid[a].at(0).code() == 1);
  BOOST_TEST(rec_b.by_pid[b].at(0).code() == 2, "a=" << a << " b=" << b);
  BOOST_TEST(oneshot_calls == 1);
  uv_close(reinterpret_cast<uv_handle_t*>(&oneshot), nullptr);
  run_to_completion();  // the handle lives on this stack
}

BOOST_AUTO_TEST_CASE(sigchld_taken_by_another_thread_still_reaches_the_loop) {
  // The loop runs in a thread that blocks SIGCHLD, so the kernel delivers it to this
  // one, which sits in a blocking read(): libuv's handler writes its pipe and returns,
  // the loop thread reaps, and the read is restarted, never failed with EINTR.
  pipe_pair done;
  std::atomic<int> callbacks{0};
  std::atomic<bool> on_loop_thread{true};
  std::thread worker([&] {
    sigchld_blocked blocked;
    uv_loop_t l;
    uv_loop_init(&l);
    {
      auto o = test_options();
      o.poll_interval = std::chrono::hours{1};  // prove the signal path, not the poll
      reaper r{&l, o};
      const auto me = std::this_thread::get_id();
      for (int i = 0; i < 20; ++i) {
        r.spawn(helper_options({"exit", std::to_string(i)}), [&](const exit_status& s) {
          if (std::this_thread::get_id() != me || !s.exited()) on_loop_thread = false;
          ++callbacks;
        });
      }
      uv_timer_t guard;
      uv_timer_init(&l, &guard);
      uv_timer_start(
          &guard, [](uv_timer_t* t) { uv_stop(t->loop); }, 60000, 0);
      while (callbacks < 20 && uv_run(&l, UV_RUN_ONCE) != 0) {
        if (uv_is_active(reinterpret_cast<uv_handle_t*>(&guard)) == 0) break;
      }
      uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    }
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
    (void)!::write(done.wr, "x", 1);
  });
  int eintr = 0;
  char c;
  ssize_t n;
  while ((n = ::read(done.rd, &c, 1)) < 0 && errno == EINTR)
    ++eintr;
  worker.join();
  BOOST_TEST(n == 1);
  BOOST_TEST(eintr == 0);
  BOOST_TEST(callbacks == 20);
  BOOST_TEST(on_loop_thread.load());
}

BOOST_FIXTURE_TEST_CASE(a_full_signal_pipe_while_the_loop_is_blocked_loses_no_exit,
                        reaper_fixture) {
  gate g;
  std::vector<pid_t> pids;
  for (int i = 0; i < 200; ++i)
    pids.push_back(r.spawn(gated_helper(g, i % 7), rec.cb()));
  // A timer callback blocks the loop thread while another thread floods SIGCHLD (far
  // more than libuv's signal pipe holds) and the 200 children exit.
  uv_timer_t block;
  uv_timer_init(&loop, &block);
  struct ctx {
    gate* g;
    std::vector<pid_t>* pids;
  } c{&g, &pids};
  block.data = &c;
  uv_timer_start(
      &block,
      [](uv_timer_t* t) {
        auto* c = static_cast<ctx*>(t->data);
        std::thread flood([] {
          for (int i = 0; i < 100000; ++i)
            ::kill(::getpid(), SIGCHLD);
        });
        c->g->open();
        flood.join();
        for (pid_t p : *c->pids)
          wait_until_zombie(p);
      },
      0, 0);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 200; }));
  for (std::size_t i = 0; i < pids.size(); ++i)
    BOOST_TEST(rec.by_pid[pids[i]].at(0).code() == static_cast<int>(i % 7));
  uv_close(reinterpret_cast<uv_handle_t*>(&block), nullptr);
  run_to_completion();  // the handle lives on this stack
}

// --- children: stopped, exiting between runs, holding pipes -------------------------

BOOST_FIXTURE_TEST_CASE(stopped_and_continued_children_make_no_callback, reaper_fixture) {
  gate g;
  const pid_t pid = r.spawn(gated_helper(g, 0), rec.cb());
  siginfo_t si{};
  r.kill(pid, SIGSTOP);
  BOOST_REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &si, WSTOPPED | WNOWAIT) == 0);
  run_for(100ms);
  BOOST_TEST(rec.calls == 0u);
  r.kill(pid, SIGCONT);
  BOOST_REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &si, WCONTINUED | WNOWAIT) == 0);
  run_for(100ms);
  BOOST_TEST(rec.calls == 0u);
  // SIGTERM to a stopped child stays pending until SIGCONT.
  r.kill(pid, SIGSTOP);
  BOOST_REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &si, WSTOPPED | WNOWAIT) == 0);
  r.kill(pid, SIGTERM);
  run_for(100ms);
  BOOST_TEST(rec.calls == 0u);
  r.kill(pid, SIGCONT);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).signal() == SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(exits_while_the_loop_is_not_running_are_delivered_on_the_next_run,
                        reaper_fixture) {
  std::vector<pid_t> pids;
  for (int i = 0; i < 10; ++i)
    pids.push_back(r.spawn(helper_options({"exit", std::to_string(i)}), rec.cb()));
  for (pid_t p : pids)
    wait_until_zombie(p);
  BOOST_TEST(rec.calls == 0u);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 10; }));
  for (int i = 0; i < 10; ++i)
    BOOST_TEST(rec.by_pid[pids[static_cast<std::size_t>(i)]].at(0).code() == i);
}

BOOST_FIXTURE_TEST_CASE(the_exit_callback_does_not_wait_for_a_grandchild_holding_stdout,
                        reaper_fixture) {
  gate g;
  pipe_pair out;
  // The grandchild keeps stdout open until the gate opens; the child exits at once.
  const pid_t pid = r.spawn(gated_shell("exec 3<&0; (read _ <&3) & exit 0", g, out), rec.cb());
  out.close_write();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 0);
  BOOST_TEST(!readable_now(out.rd));  // no EOF yet: the pipe still has a writer
  g.open();
  BOOST_TEST(read_to_eof(out.rd).empty());
}

BOOST_FIXTURE_TEST_CASE(an_exec_failure_storm_does_not_hide_a_real_exit, reaper_fixture) {
  gate g;
  const pid_t real = r.spawn(gated_helper(g, 9), rec.cb());
  spawn_options missing;
  missing.argv = {"/nonexistent/uvreap-no-such-program"};
  std::error_code ec;
  for (int i = 0; i < 100; ++i) {
    BOOST_TEST(r.spawn(missing, rec.cb(), ec) == -1);
    BOOST_TEST(ec == std::errc::no_such_file_or_directory);
    if (i == 50) g.open();
  }
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  run_for(50ms);
  BOOST_TEST(rec.calls == 1u);
  BOOST_TEST(rec.by_pid[real].at(0).code() == 9);
}

BOOST_FIXTURE_TEST_CASE(kill_and_watch_refuse_groups_init_and_ourselves, reaper_fixture) {
  std::error_code ec;
  for (pid_t p : {0, -1, -1234}) {
    r.kill(p, SIGTERM, ec);
    BOOST_TEST(ec == std::errc::invalid_argument);
    r.watch(p, rec.cb(), ec);
    BOOST_TEST(ec == std::errc::invalid_argument);
  }
  for (pid_t p : {1, ::getpid()}) {
    r.kill(p, SIGTERM, ec);
    BOOST_TEST(ec == std::errc::no_such_process);  // never owned: no syscall
    r.watch(p, rec.cb(), ec);
    BOOST_TEST(ec == std::errc::no_child_process);
  }
  BOOST_TEST(r.stats().syscalls.kill == 0u);
  BOOST_TEST(r.size() == 0u);
}

// --- ownership, pid identity, lifecycle ---------------------------------------------

BOOST_AUTO_TEST_CASE(a_child_reaped_by_someone_else_is_reported_lost_once) {
  auto o = test_options();
  o.poll_interval = 20ms;  // own/all notice a stolen pid at the next poll
  reaper r{&loop, o};
  recorder rec;
  gate g;
  const pid_t alive = r.spawn(gated_helper(g, 1), rec.cb());  // the process keeps a child
  const pid_t stolen = r.spawn(helper_options({"exit", "0"}), rec.cb());
  wait_until_zombie(stolen);
  BOOST_REQUIRE(::waitpid(stolen, nullptr, 0) == stolen);  // the thief
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[stolen].size() == 1u);
  BOOST_TEST(rec.by_pid[stolen].at(0).lost());
  BOOST_TEST(r.stats().lost == 1u);
  BOOST_TEST(r.watching(alive));
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 2; }));
  BOOST_TEST(rec.by_pid[alive].at(0).code() == 1);
}

BOOST_FIXTURE_TEST_CASE(kill_of_a_zombie_does_not_reap_it_or_lose_its_status, reaper_fixture) {
  const pid_t pid = r.spawn(helper_options({"exit", "6"}), rec.cb());
  wait_until_zombie(pid);
  r.kill(pid, SIGTERM);  // a zombie accepts signals; kill never waits
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).exited());
  BOOST_TEST(rec.by_pid[pid].at(0).code() == 6);
}

BOOST_FIXTURE_TEST_CASE(a_recycled_pid_is_never_signalled_and_never_aliased, reaper_fixture,
                        *precondition(ns_last_pid_writable)) {
  gate g;
  // A is reaped; the kernel is told to hand A's number out again.
  const pid_t a = r.spawn(helper_options({"exit", "0"}), rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_REQUIRE(next_pid_will_be(a));
  const pid_t b = fork_gated(g, 5);  // not the reaper's
  if (b == a) {
    std::error_code ec;
    r.kill(a, SIGKILL, ec);
    BOOST_TEST(ec == std::errc::no_such_process);
    BOOST_TEST(r.stats().syscalls.kill == 0u);
    BOOST_TEST(::kill(b, 0) == 0);  // B is alive
  } else {
    BOOST_TEST_MESSAGE("pid " << a << " was not reused (another process took it)");
  }
  // Inside A2's callback, spawn C onto A2's number: C's exit reaches C's callback, once.
  pid_t c = -1;
  const pid_t a2 = r.spawn(helper_options({"exit", "0"}), [&](const exit_status& s) {
    rec.cb()(s);
    if (next_pid_will_be(s.pid())) c = r.spawn(gated_helper(g, 8), rec.cb());
  });
  BOOST_REQUIRE(run_until([&] { return rec.calls == 2 && c > 0; }));
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 3; }));
  if (c == a2) {
    BOOST_TEST(rec.by_pid[a2].size() == 2u);  // A2's record, then C's
    BOOST_TEST(rec.by_pid[a2].at(1).code() == 8);
  } else {
    BOOST_TEST(rec.by_pid[c].at(0).code() == 8);
  }
  // Policy `all` took B as an orphan once it exited; the others left it to us.
  if (r.reap_policy() == policy::all) {
    BOOST_TEST(run_until([&] { return r.stats().orphans_reaped == 1; }));
  } else {
    BOOST_TEST(::waitpid(b, nullptr, 0) == b);
  }
}

BOOST_FIXTURE_TEST_CASE(a_pending_exit_at_close_makes_no_callback_but_is_reaped, reaper_fixture) {
  const pid_t pid = r.spawn(helper_options({"exit", "0"}), rec.cb());
  wait_until_zombie(pid);  // its SIGCHLD is queued in libuv's pipe
  bool closed = false;
  r.close(close_options::kill_children(), [&] { closed = true; });
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(rec.calls == 0u);
  BOOST_TEST(no_zombies());
}

BOOST_AUTO_TEST_CASE(a_traced_child_is_reaped_once_its_tracer_lets_go,
                     *precondition(strace_installed)) {
  reaper r{&loop, test_options()};
  recorder rec;
  gate g;
  std::vector<pid_t> pids;
  for (int i = 0; i < 10; ++i) {
    // -D: the tracer is a grandchild; our child is the traced shell.
    spawn_options o;
    o.argv = {"strace", "-f", "-o", "/dev/null", "-D", "/bin/sh", "-c", "read _; exit 3"};
    o.stdio_map[0] = stdio::from_fd(g.read_fd());
    pids.push_back(r.spawn(o, rec.cb()));
  }
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 10; }));
  for (pid_t p : pids) {
    BOOST_TEST(rec.by_pid[p].size() == 1u);
    BOOST_TEST(rec.by_pid[p].at(0).code() == 3);
  }
}

BOOST_AUTO_TEST_CASE(eagain_from_a_real_process_limit_is_returned_with_no_child,
                     *precondition(running_as_root)) {
  // In a forked child that drops root (root ignores RLIMIT_NPROC) and may own only
  // itself, a new reaper's spawn must fail with EAGAIN and leave nothing behind.
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(77);
    rlimit one{1, 1};
    if (::setrlimit(RLIMIT_NPROC, &one) != 0) _exit(78);
    uv_loop_t l;
    uv_loop_init(&l);
    int rc = 0;
    {
      reaper r{&l};
      std::error_code ec;
      spawn_options o;
      o.argv = {"/bin/true"};
      const pid_t c = r.spawn(
          o, [](const exit_status&) {}, ec);
      if (c != -1 || ec != std::errc::resource_unavailable_try_again) rc = 1;
      if (r.size() != 0) rc = 2;
    }
    uv_run(&l, UV_RUN_DEFAULT);
    _exit(uv_loop_close(&l) == 0 ? rc : 3);
  }
  int st = 0;
  BOOST_REQUIRE(::waitpid(pid, &st, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(st));
  BOOST_TEST_REQUIRE(WEXITSTATUS(st) != 77, "root could not drop to nobody");
  BOOST_TEST_REQUIRE(WEXITSTATUS(st) != 78, "RLIMIT_NPROC could not be set");
  BOOST_TEST(WEXITSTATUS(st) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// --- subreaper mode (policy all only) ---------------------------------------------

BOOST_FIXTURE_TEST_SUITE(subreaper_suite, loop_fixture)

BOOST_AUTO_TEST_CASE(an_orphaned_grandchild_reaches_on_orphan_and_leaves_no_zombie) {
  int before = -1;
  BOOST_REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &before) == 0);
  BOOST_REQUIRE(before == 0);
  std::vector<exit_status> orphans;
  options o;
  o.reap_policy = policy::all;
  o.subreaper = true;
  o.on_orphan = [&](const exit_status& s) { orphans.push_back(s); };
  recorder rec;
  {
    reaper r{&loop, o};
    int now = -1;
    BOOST_REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &now) == 0);
    BOOST_TEST(now == 1);
    gate g;
    pipe_pair out;
    // The child double-forks: its own child waits on the gate, and it exits at once.
    const pid_t child =
        r.spawn(gated_shell("exec 3<&0; (read _ <&3; exit 7) & echo $!; exit 0", g, out), rec.cb());
    out.close_write();
    const pid_t grandchild = std::stoi(read_line(out.rd));
    BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
    BOOST_TEST(rec.by_pid[child].at(0).code() == 0);
    g.open();
    BOOST_REQUIRE(run_until([&] { return orphans.size() == 1; }));
    BOOST_TEST(orphans.at(0).pid() == grandchild);
    BOOST_TEST(orphans.at(0).code() == 7);
    BOOST_TEST(r.stats().orphans_reaped == 1u);
    BOOST_TEST(no_zombies());
    r.close();
    BOOST_REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &now) == 0);
    BOOST_TEST(now == 0);  // restored by close
  }
}

BOOST_AUTO_TEST_CASE(subreaper_needs_policy_all) {
  options o;
  o.reap_policy = policy::own;
  o.subreaper = true;
  std::error_code ec;
  BOOST_TEST(!reaper::create(&loop, o, ec));
  BOOST_TEST(ec == std::errc::invalid_argument);
  int now = -1;
  BOOST_REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &now) == 0);
  BOOST_TEST(now == 0);
}

BOOST_AUTO_TEST_SUITE_END()
