// SPDX-License-Identifier: MIT
// uvreap tests: failures injected through the OS seam, and syscall counts from stats.
#include "uvreap/testing/sys.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <ostream>
#include <string>
#include <vector>

#include "scripted_os.hpp"
#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace {

// A kernel without pidfd_open runs policy pidfd as own: the pidfd seam cases skip there.
boost::test_tools::assertion_result kernel_has_pidfd(boost::unit_test::test_unit_id) {
  const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
  if (fd >= 0) ::close(static_cast<int>(fd));
  boost::test_tools::assertion_result r(fd >= 0);
  r.message() << "the kernel has no pidfd_open";
  return r;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(sys_suite, seam_fixture)

BOOST_AUTO_TEST_CASE(eintr_is_retried_for_peek_and_reap) {
  reaper r{&loop, opts()};
  os.fail_next(scripted_os::k_waitid, EINTR);
  os.fail_next(scripted_os::k_wait4, EINTR);
  std::vector<exit_status> got;
  r.spawn(helper_options({"exit", "6"}), [&](const exit_status& s) { got.push_back(s); });
  run_until([&] { return !got.empty(); });
  run_to_completion();
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].code() == 6);
  BOOST_TEST(r.stats().syscalls.eintr == 2u);
  BOOST_TEST(os.calls[scripted_os::k_spawn] == 1);
  BOOST_TEST(r.stats().syscalls.spawn == 1u);
  BOOST_TEST(errors.empty());
}

BOOST_AUTO_TEST_CASE(eintr_is_retried_for_watch_and_kill) {
  reaper r{&loop, opts()};
  gate g;
  const pid_t pid = fork_gated(g, 0);
  os.fail_next(scripted_os::k_waitid, EINTR, 2);
  std::vector<exit_status> got;
  r.watch(pid, [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(scripted_os::k_kill, EINTR);
  r.kill(pid, SIGKILL);
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).signal() == SIGKILL);
  BOOST_TEST(r.stats().syscalls.eintr == 3u);
}

BOOST_AUTO_TEST_CASE(echild_from_wait4_is_delivered_as_lost_and_leaves_the_child_alone) {
  reaper r{&loop, opts()};
  gate g;
  const pid_t pid = fork_gated(g, 3);
  std::vector<exit_status> got;
  r.watch(pid, [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(scripted_os::k_wait4, ECHILD);  // as if a foreign waitpid took it first
  g.open();
  run_until([&] { return !got.empty(); });
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].lost());
  BOOST_TEST(got[0].pid() == pid);
  BOOST_TEST(r.stats().lost == 1u);
  // The reaper did not reap it: its status is still there for whoever owns it now.
  int st = 0;
  BOOST_TEST(::waitpid(pid, &st, 0) == pid);
  BOOST_TEST(WEXITSTATUS(st) == 3);
}

BOOST_AUTO_TEST_CASE(echild_from_the_peek_means_every_owned_child_was_taken) {
  reaper r{&loop, opts()};
  gate g;
  std::vector<pid_t> pids{fork_gated(g, 0), fork_gated(g, 0)};
  std::vector<exit_status> got;
  for (pid_t p : pids)
    r.watch(p, [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(scripted_os::k_waitid, ECHILD);
  spurious_sigchld(r);
  run_until([&] { return got.size() == 2; });
  for (const auto& s : got)
    BOOST_TEST(s.lost());
  BOOST_TEST(r.size() == 0u);
  g.open();
  for (pid_t p : pids)
    BOOST_TEST(::waitpid(p, nullptr, 0) == p);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, an_unexpected_sweep_error_is_reported_and_retried,
                       boost::unit_test::data::make({0, 1}), which) {
  reaper r{&loop, opts()};
  gate g;
  const pid_t pid = fork_gated(g, 8);
  std::vector<exit_status> got;
  r.watch(pid, [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(which == 0 ? scripted_os::k_waitid : scripted_os::k_wait4, EAGAIN);
  g.open();
  run_until([&] { return !got.empty(); });
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].code() == 8);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first == std::errc::resource_unavailable_try_again);
  BOOST_TEST(r.stats().errors == 1u);
}

BOOST_AUTO_TEST_CASE(a_kill_failure_carries_its_errno) {
  reaper r{&loop, opts()};
  gate g;
  const pid_t pid = fork_gated(g, 0);
  std::vector<exit_status> got;
  r.watch(pid, [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(scripted_os::k_kill, EPERM);
  std::error_code ec;
  r.kill(pid, SIGTERM, ec);
  BOOST_TEST(ec == std::errc::operation_not_permitted);
  g.open();
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 0);
}

BOOST_AUTO_TEST_CASE(a_sigaction_failure_fails_construction) {
  os.fail_next(scripted_os::k_sigaction, EFAULT);
  std::error_code ec;
  BOOST_TEST(!reaper::create(&loop, opts(), ec).has_value());
  BOOST_TEST(ec == std::errc::bad_address);
}

BOOST_AUTO_TEST_CASE(an_empty_sweep_costs_one_syscall_and_none_with_no_children) {
  reaper r{&loop, opts()};
  uv_run(&loop, UV_RUN_NOWAIT);  // the start-up sweep
  auto before = r.stats();
  spurious_sigchld(r);
  BOOST_TEST(r.stats().syscalls.total() - before.syscalls.total() == 0u);

  gate g;
  const pid_t pid = fork_gated(g, 0);
  r.watch(pid, [](const exit_status&) {});
  uv_run(&loop, UV_RUN_NOWAIT);
  before = r.stats();
  spurious_sigchld(r);
  const auto after = r.stats();
  BOOST_TEST(after.syscalls.total() - before.syscalls.total() == 1u);
  BOOST_TEST(after.syscalls.waitid - before.syscalls.waitid == 1u);
  BOOST_TEST(after.empty_sweeps > before.empty_sweeps);
  g.open();
  run_to_completion();
}

BOOST_AUTO_TEST_CASE(an_empty_sweep_under_policy_all_costs_one_wait4) {
  options o = opts();
  o.reap_policy = policy::all;
  reaper r{&loop, o};
  uv_run(&loop, UV_RUN_NOWAIT);
  const auto before = r.stats();
  spurious_sigchld(r);
  const auto after = r.stats();
  BOOST_TEST(after.syscalls.total() - before.syscalls.total() == 1u);
  BOOST_TEST(after.syscalls.wait4 - before.syscalls.wait4 == 1u);
}

BOOST_AUTO_TEST_CASE(own_reaps_a_batch_by_peek_with_one_wait4_per_exit) {
  reaper r{&loop, opts()};
  gate g;
  constexpr int kN = 200;
  int calls = 0;
  for (int i = 0; i < kN; ++i)
    r.watch(fork_gated(g, 0), [&](const exit_status&) { ++calls; });
  const auto before = r.stats();
  g.open();
  run_until([&] { return calls == kN; });
  const auto after = r.stats();
  const auto sweeps = after.sweeps - before.sweeps;
  BOOST_TEST(after.syscalls.wait4 - before.syscalls.wait4 == static_cast<std::uint64_t>(kN));
  // One peek per exit, plus the one per sweep that finds nothing more.
  BOOST_TEST(after.syscalls.waitid - before.syscalls.waitid <= kN + sweeps);
  BOOST_TEST(after.fast_path_hits - before.fast_path_hits == static_cast<std::uint64_t>(kN));
  BOOST_TEST(after.fallback_scans == 0u);
}

BOOST_AUTO_TEST_CASE(own_never_reaps_a_foreign_zombie_and_scans_past_it) {
  reaper r{&loop, opts()};
  const pid_t foreign = fork_exiting(77);
  wait_until_zombie(foreign);  // the oldest zombie, and not ours
  gate g;
  std::vector<exit_status> got;
  for (int i = 0; i < 5; ++i) {
    r.watch(fork_gated(g, i), [&](const exit_status& s) { got.push_back(s); });
  }
  g.open();
  run_until([&] { return got.size() == 5; });
  const auto s = r.stats();
  BOOST_TEST(s.fallback_scans >= 1u);
  BOOST_TEST(s.fallback_scans <= s.sweeps);  // at most one scan per sweep
  BOOST_TEST(s.lost == 0u);
  int st = 0;
  BOOST_TEST(::waitpid(foreign, &st, WNOHANG) == foreign);  // still there for its owner
  BOOST_TEST(WEXITSTATUS(st) == 77);
}

// ---- policy pidfd ----

BOOST_AUTO_TEST_CASE(pidfd_costs_a_constant_number_of_syscalls_per_exit) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  BOOST_REQUIRE(r.reap_policy() == policy::pidfd);
  gate g;
  constexpr std::uint64_t kN = 200;
  std::uint64_t calls = 0;
  const auto before = r.stats();
  for (std::uint64_t i = 0; i < kN; ++i) {
    r.watch(fork_gated(g, 0), [&](const exit_status&) { ++calls; });
  }
  g.open();
  run_until([&] { return calls == kN; });
  const auto s = r.stats();
  BOOST_TEST(s.syscalls.wait4 - before.syscalls.wait4 == kN);
  BOOST_TEST(s.syscalls.close - before.syscalls.close == kN);
  BOOST_TEST(s.syscalls.pidfd_open - before.syscalls.pidfd_open == kN);
  BOOST_TEST(s.syscalls.waitid - before.syscalls.waitid == kN);  // watch()'s check only
  // One epoll_ctl per registration, one epoll_wait per sweep.
  BOOST_TEST(s.syscalls.epoll - before.syscalls.epoll == kN + (s.sweeps - before.sweeps));
  BOOST_TEST(s.fallback_scans == 0u);
  BOOST_TEST(s.pidfd_fallbacks == 0u);
}

BOOST_AUTO_TEST_CASE(pidfd_falls_back_to_sigchld_for_a_child_that_gets_no_fd) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  gate g;
  std::vector<exit_status> got;
  const pid_t a = fork_gated(g, 1);
  const pid_t b = fork_gated(g, 2);
  os.fail_next(scripted_os::k_pidfd, EMFILE);
  r.watch(a, [&](const exit_status& s) { got.push_back(s); });
  r.watch(b, [&](const exit_status& s) { got.push_back(s); });
  BOOST_TEST(r.stats().pidfd_fallbacks == 1u);
  g.open();
  run_until([&] { return got.size() == 2; });
  for (const auto& s : got)
    BOOST_TEST(s.code() == (s.pid() == a ? 1 : 2));
  BOOST_TEST(r.stats().fallback_scans >= 1u);
  BOOST_TEST(errors.empty());
}

BOOST_AUTO_TEST_CASE(pidfd_under_a_lowered_fd_limit_still_delivers_every_exit) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  gate g;
  rlimit old{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(open_fd_count() + 5);
  BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<exit_status> got;
  std::vector<pid_t> pids;
  for (int i = 0; i < 20; ++i) {
    pids.push_back(fork_gated(g, i));
    r.watch(pids.back(), [&](const exit_status& s) { got.push_back(s); });
  }
  ::setrlimit(RLIMIT_NOFILE, &old);
  BOOST_TEST(r.stats().pidfd_fallbacks >= 10u);  // EMFILE for most of them
  g.open();
  run_until([&] { return got.size() == 20; });
  for (const auto& s : got) {
    const auto at = std::find(pids.begin(), pids.end(), s.pid()) - pids.begin();
    BOOST_TEST(s.code() == at);
  }
}

BOOST_AUTO_TEST_CASE(pidfd_readable_with_nothing_to_reap_is_rearmed_not_waited_for) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  gate g;
  std::vector<exit_status> got;
  r.watch(fork_gated(g, 4), [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(scripted_os::k_wait4, 0);  // wait4 answers 0: as for a traced child
  g.open();
  run_until([&] { return !got.empty(); });
  run_to_completion();
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].code() == 4);
  BOOST_TEST(r.stats().pidfd_not_reapable == 1u);
}

BOOST_AUTO_TEST_CASE(pidfd_on_a_kernel_without_it_runs_as_own) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  os.fail_next(scripted_os::k_pidfd, ENOSYS);
  reaper r{&loop, o};
  BOOST_TEST(r.reap_policy() == policy::own);
  std::vector<exit_status> got;
  r.spawn(helper_options({"exit", "3"}), [&](const exit_status& s) { got.push_back(s); });
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 3);
  BOOST_TEST(r.stats().syscalls.pidfd_open == 1u);  // the probe, and never again
}

// Fails the test if the reaper ever makes a call that could take or hit a process it
// does not own: wait4 on a group or "any", a P_ALL wait that reaps, kill on a group.
class ownership_auditor : public scripted_os {
 public:
  int violations = 0;
  pid_t wait4(pid_t pid, int* status, int flags, ::rusage* ru) noexcept override {
    if (pid <= 0) ++violations;
    return scripted_os::wait4(pid, status, flags, ru);
  }
  int waitid(idtype_t t, id_t id, siginfo_t* info, int flags) noexcept override {
    if (t != P_PID && (t != P_ALL || (flags & WNOWAIT) == 0)) ++violations;
    return scripted_os::waitid(t, id, info, flags);
  }
  int kill(pid_t pid, int sig) noexcept override {
    if (pid <= 0) ++violations;
    return scripted_os::kill(pid, sig);
  }
};

BOOST_AUTO_TEST_CASE(policy_own_never_makes_a_call_that_could_take_a_foreign_child) {
  ownership_auditor audit;
  options o;
  o.os = &audit;
  std::vector<pid_t> foreign;
  {
    reaper r{&loop, o};
    gate g;
    int calls = 0;
    for (int i = 0; i < 100; ++i) {
      r.watch(fork_gated(g, 1), [&](const exit_status&) { ++calls; });
      if (i % 10 == 0) foreign.push_back(fork_exiting(2));  // nobody's, exits at once
    }
    r.spawn(helper_options({"exit", "0"}), [&](const exit_status&) { ++calls; });
    g.open();
    run_until([&] { return calls == 101; });
    gate g2;
    r.watch(fork_gated(g2, 0), [&](const exit_status&) { ++calls; });
    r.close(close_options::kill_children(std::chrono::milliseconds{100}));
    run_to_completion();
  }
  BOOST_TEST(audit.violations == 0);
  BOOST_TEST(audit.calls[scripted_os::k_wait4] > 0);
  for (pid_t p : foreign)
    BOOST_TEST(::waitpid(p, nullptr, 0) == p);  // all still there
}

// --- fault matrix: every seam call, each errno its man page lists for our use ---------

namespace {

int subreaper_now() {
  int on = -1;
  BOOST_REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &on) == 0);
  return on;
}

// Calls made while constructing: the reaper is not created and nothing is left behind.
const std::vector<fault> construction_faults = {
    {k::k_sigaction, EINVAL},     {k::k_sigaction, EFAULT},     {k::k_sigmask, EINVAL},
    {k::k_sigmask, EFAULT},       {k::k_subreaper_get, EINVAL}, {k::k_subreaper_get, EFAULT},
    {k::k_subreaper_set, EINVAL}, {k::k_subreaper_set, EPERM},  {k::k_pidfd, EINVAL},
    {k::k_pidfd, EMFILE},         {k::k_pidfd, ENFILE},         {k::k_pidfd, ENODEV},
    {k::k_pidfd, ENOMEM},         {k::k_epoll_create, EINVAL},  {k::k_epoll_create, EMFILE},
    {k::k_epoll_create, ENFILE},  {k::k_epoll_create, ENOMEM},
};

// pidfd_open for one child: it falls back to SIGCHLD and per-pid wait4, still delivered.
const std::vector<int> pidfd_child_errnos = {EINVAL, EMFILE, ENFILE, ENODEV, ENOMEM, ESRCH};

// epoll_ctl(EPOLL_CTL_ADD) of one child's pidfd (epoll_ctl(2): EBADF, EEXIST, EINVAL,
// ELOOP, ENOENT, ENOMEM, ENOSPC, EPERM): the same per-child fallback.
const std::vector<int> epoll_ctl_errnos = {EBADF,  EEXIST, EINVAL, ELOOP,
                                           ENOENT, ENOMEM, ENOSPC, EPERM};

// epoll_wait in a sweep (epoll_wait(2): EBADF, EFAULT, EINVAL): reported, swept again.
const std::vector<int> epoll_wait_errnos = {EBADF, EFAULT, EINVAL};

}  // namespace

BOOST_DATA_TEST_CASE_F(seam_fixture, a_failure_during_construction_is_returned_and_leaks_nothing,
                       boost::unit_test::data::make(construction_faults), f) {
  options o = opts();
  if (f.call == k::k_subreaper_get || f.call == k::k_subreaper_set) {
    o.reap_policy = policy::all;
    o.subreaper = true;
  } else if (f.call == k::k_pidfd || f.call == k::k_epoll_create) {
    o.reap_policy = policy::pidfd;
  }
  os.fail_next(f.call, f.err);
  const int fds = open_fd_count();
  std::error_code ec;
  BOOST_TEST(!reaper::create(&loop, o, ec).has_value());
  BOOST_TEST(ec.value() == f.err);
  run_to_completion();
  BOOST_TEST(open_fd_count() == fds);
  BOOST_TEST(subreaper_now() == 0);
  // The process-wide `all` claim was released too: the next one may start.
  o.os = nullptr;
  BOOST_TEST(reaper::create(&loop, o, ec).has_value());
}

BOOST_DATA_TEST_CASE_F(seam_fixture, every_watch_peek_errno_is_returned,
                       boost::unit_test::data::make({ECHILD, EINVAL}), err) {
  reaper r{&loop, opts()};
  gate g;
  const pid_t pid = fork_gated(g, 0);
  os.fail_next(k::k_waitid, err);
  std::error_code ec;
  r.watch(
      pid, [](const exit_status&) {}, ec);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(!r.watching(pid));
  g.open();
  BOOST_TEST(::waitpid(pid, nullptr, 0) == pid);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, every_kill_errno_is_returned_and_the_child_stays_owned,
                       boost::unit_test::data::make({EINVAL, EPERM, ESRCH}), err) {
  reaper r{&loop, opts()};
  gate g;
  std::vector<exit_status> got;
  const pid_t pid = r.spawn(gated_helper(g, 4), [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(k::k_kill, err);
  std::error_code ec;
  r.kill(pid, SIGTERM, ec);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(r.watching(pid));
  g.open();
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 4);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, an_einval_in_a_sweep_is_reported_and_the_exit_still_arrives,
                       boost::unit_test::data::make({0, 1}), which) {
  reaper r{&loop, opts()};
  gate g;
  std::vector<exit_status> got;
  const pid_t pid = r.spawn(gated_helper(g, 2), [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(which == 0 ? k::k_waitid : k::k_wait4, EINVAL);
  g.open();
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).pid() == pid);
  BOOST_TEST(got.at(0).code() == 2);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first == std::errc::invalid_argument);
}

BOOST_TEST_DECORATOR(*boost::unit_test::precondition(kernel_has_pidfd))
BOOST_DATA_TEST_CASE_F(seam_fixture, every_pidfd_open_errno_for_a_child_falls_back_per_child,
                       boost::unit_test::data::make(pidfd_child_errnos), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  BOOST_REQUIRE(r.reap_policy() == policy::pidfd);  // the kernel has it (precondition)
  os.ignore_clone_pidfd = true;                     // so that it opens one after
  const int fds = open_fd_count();
  os.fail_next(k::k_pidfd, err);
  std::vector<exit_status> got;
  r.spawn(helper_options({"exit", "12"}), [&](const exit_status& s) { got.push_back(s); });
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 12);
  BOOST_TEST(r.stats().pidfd_fallbacks == 1u);
  BOOST_TEST(errors.empty());
  BOOST_TEST(open_fd_count() == fds);
}

BOOST_TEST_DECORATOR(*boost::unit_test::precondition(kernel_has_pidfd))
BOOST_DATA_TEST_CASE_F(seam_fixture, every_epoll_ctl_errno_for_a_child_falls_back_per_child,
                       boost::unit_test::data::make(epoll_ctl_errnos), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  BOOST_REQUIRE(r.reap_policy() == policy::pidfd);  // the kernel has it (precondition)
  const int fds = open_fd_count();
  os.fail_next(k::k_epoll_ctl, err);
  std::vector<exit_status> got;
  r.spawn(helper_options({"exit", "13"}), [&](const exit_status& s) { got.push_back(s); });
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 13);
  BOOST_TEST(r.stats().pidfd_fallbacks == 1u);
  BOOST_TEST(open_fd_count() == fds);  // the pidfd that could not be armed was closed
}

BOOST_TEST_DECORATOR(*boost::unit_test::precondition(kernel_has_pidfd))
BOOST_DATA_TEST_CASE_F(seam_fixture, every_epoll_wait_errno_is_reported_and_the_exit_still_arrives,
                       boost::unit_test::data::make(epoll_wait_errnos), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  BOOST_REQUIRE(r.reap_policy() == policy::pidfd);  // the kernel has it (precondition)
  gate g;
  std::vector<exit_status> got;
  const pid_t pid = r.spawn(gated_helper(g, 14), [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(k::k_epoll_wait, EINTR);  // retried at once
  os.fail_next(k::k_epoll_wait, err);    // reported, swept again on the timer
  g.open();
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).pid() == pid);
  BOOST_TEST(got.at(0).code() == 14);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first.value() == err);
  BOOST_TEST(errors[0].second == "epoll_wait");
  BOOST_TEST(r.stats().syscalls.eintr >= 1u);
}

BOOST_TEST_DECORATOR(*boost::unit_test::precondition(kernel_has_pidfd))
BOOST_DATA_TEST_CASE_F(seam_fixture, a_close_error_is_never_retried_and_leaks_no_fd,
                       boost::unit_test::data::make({EINTR, EIO}), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  BOOST_REQUIRE(r.reap_policy() == policy::pidfd);  // the kernel has it (precondition)
  const int fds = open_fd_count();
  const int closes = os.calls[k::k_close];
  os.fail_next(k::k_close, err);  // closing the child's pidfd after it is reaped
  std::vector<exit_status> got;
  r.spawn(helper_options({"exit", "15"}), [&](const exit_status& s) { got.push_back(s); });
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 15);
  BOOST_TEST(os.calls[k::k_close] - closes == 1);         // not retried, whatever it said
  BOOST_TEST(open_fd_count() == fds);                     // the fd is gone all the same
  BOOST_TEST(errors.size() == (err == EINTR ? 0u : 1u));  // EINTR is not a failure of close
}

BOOST_DATA_TEST_CASE_F(seam_fixture, a_kill_failure_while_closing_is_reported_and_sigkill_follows,
                       boost::unit_test::data::make({EINVAL, EPERM}), err) {
  reaper r{&loop, opts()};
  gate g;
  r.spawn(gated_helper(g, 0), [](const exit_status&) {});
  os.fail_next(k::k_kill, err);  // the SIGTERM of close
  bool closed = false;
  r.close(close_options::kill_children(std::chrono::milliseconds{50}), [&] { closed = true; });
  run_until([&] { return closed; });
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first.value() == err);
  BOOST_TEST(children_census().empty());
}

BOOST_AUTO_TEST_CASE(a_kill_failure_at_a_deadline_is_reported_and_sigkill_follows) {
  reaper r{&loop, opts()};
  gate g;
  auto o = gated_helper(g, 0);
  o.time_limit = deadline{std::chrono::milliseconds{5}, SIGTERM, std::chrono::milliseconds{50}};
  std::vector<exit_status> got;
  r.spawn(o, [&](const exit_status& s) { got.push_back(s); });
  os.fail_next(k::k_kill, EPERM);
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).signal() == SIGKILL);
  BOOST_TEST(got.at(0).deadline_fired());
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first == std::errc::operation_not_permitted);
}

BOOST_AUTO_TEST_CASE(a_failure_to_restore_the_subreaper_flag_is_reported) {
  options o = opts();
  o.reap_policy = policy::all;
  o.subreaper = true;
  {
    reaper r{&loop, o};
    BOOST_TEST(subreaper_now() == 1);
    os.fail_next(k::k_subreaper_set, EPERM);
    r.close();
    run_to_completion();
  }
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first == std::errc::operation_not_permitted);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);  // what the reaper could not do
}

BOOST_AUTO_TEST_SUITE_END()
