// SPDX-License-Identifier: MIT
// uvreap tests: failures injected through the OS seam, and syscall counts from stats.
#include "uvreap/sys.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
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

#include "spawn_child.hpp"
#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace {

// Forwards to the kernel, except that each kind of call first returns whatever results
// a test queued for it, and every call is counted.
class scripted_os : public sys::interface {
 public:
  enum kind {
    k_wait4,
    k_waitid,
    k_kill,
    k_spawn,  // the engine (clone_spawn)
    k_posix_spawn,
    k_pipe,
    k_socketpair,
    k_sigaction,
    k_pidfd,
    k_sigmask,
    k_subreaper_get,
    k_subreaper_set,
    k_epoll_create,
    k_epoll_ctl,
    k_epoll_wait,
    k_close,
    k_fd_flags,
    k_dup,
    k_count
  };
  std::array<std::deque<int>, k_count> queued;
  std::array<int, k_count> calls{};
  std::pair<detail::child_step, int> child_fault{detail::child_step::none, 0};
  bool ignore_clone_pidfd = false;

  static constexpr int pass = 1;  // a queued "forward this one to the kernel"
  void pass_next(kind k) { queued[k].push_back(pass); }
  void fail_next(kind k, int err, int times = 1) {
    for (int i = 0; i < times; ++i)
      queued[k].push_back(-err);
  }

  pid_t wait4(pid_t pid, int* status, int flags, ::rusage* ru) noexcept override {
    if (auto r = next(k_wait4)) return *r;
    return interface::wait4(pid, status, flags, ru);
  }
  int waitid(idtype_t t, id_t id, siginfo_t* info, int flags) noexcept override {
    if (auto r = next(k_waitid)) return *r;
    return interface::waitid(t, id, info, flags);
  }
  int kill(pid_t pid, int sig) noexcept override {
    if (auto r = next(k_kill)) return *r;
    return interface::kill(pid, sig);
  }
  // A queued result fails clone itself (as the kernel would, before any child);
  // `child_fault` makes the real child fail that step with that errno.
  pid_t clone_spawn(sys::child_recipe& recipe, int* pidfd) noexcept override {
    if (auto r = next(k_spawn)) {
      recipe.failed_step = detail::child_step::clone;
      *pidfd = -1;
      return *r;
    }
    if (ignore_clone_pidfd) recipe.want_pidfd = false;  // a kernel before 5.2
    recipe.fault_step = child_fault.first;
    recipe.fault_errno = child_fault.second;
    return interface::clone_spawn(recipe, pidfd);
  }
  int spawn(pid_t* pid, const char* file, const posix_spawn_file_actions_t* a,
            const posix_spawnattr_t* at, char* const argv[], char* const envp[],
            bool search) noexcept override {
    if (auto r = next(k_posix_spawn)) return *r;
    return interface::spawn(pid, file, a, at, argv, envp, search);
  }
  int pipe2(int fds[2], int flags) noexcept override {
    if (auto r = next(k_pipe)) return *r;
    return interface::pipe2(fds, flags);
  }
  int socketpair(int d, int t, int p, int fds[2]) noexcept override {
    if (auto r = next(k_socketpair)) return *r;
    return interface::socketpair(d, t, p, fds);
  }
  int get_sigaction(int sig, struct sigaction* old) noexcept override {
    if (auto r = next(k_sigaction)) return *r;
    return interface::get_sigaction(sig, old);
  }
  int pidfd_open(pid_t pid, unsigned flags) noexcept override {
    if (auto r = next(k_pidfd)) return *r;
    return interface::pidfd_open(pid, flags);
  }
  int get_sigmask(sigset_t* mask) noexcept override {
    if (auto r = next(k_sigmask)) return *r;
    return interface::get_sigmask(mask);
  }
  int get_child_subreaper(int* on) noexcept override {
    if (auto r = next(k_subreaper_get)) return *r;
    return interface::get_child_subreaper(on);
  }
  int set_child_subreaper(int on) noexcept override {
    if (auto r = next(k_subreaper_set)) return *r;
    return interface::set_child_subreaper(on);
  }
  int epoll_create1(int flags) noexcept override {
    if (auto r = next(k_epoll_create)) return *r;
    return interface::epoll_create1(flags);
  }
  int epoll_ctl(int epfd, int op, int fd, ::epoll_event* ev) noexcept override {
    if (auto r = next(k_epoll_ctl)) return *r;
    return interface::epoll_ctl(epfd, op, fd, ev);
  }
  int epoll_wait(int epfd, ::epoll_event* ev, int max, int timeout) noexcept override {
    if (auto r = next(k_epoll_wait)) return *r;
    return interface::epoll_wait(epfd, ev, max, timeout);
  }
  int fd_flags(int fd) noexcept override {
    if (auto r = next(k_fd_flags)) return *r;
    return interface::fd_flags(fd);
  }
  int dup_cloexec(int fd, int min_fd) noexcept override {
    if (auto r = next(k_dup)) return *r;
    return interface::dup_cloexec(fd, min_fd);
  }
  int close(int fd) noexcept override {
    // As on Linux, the fd is released whatever close reports.
    const int real = interface::close(fd);
    if (auto r = next(k_close)) return *r;
    return real;
  }

 private:
  std::optional<int> next(kind k) {
    ++calls[k];
    if (queued[k].empty()) return std::nullopt;
    const int r = queued[k].front();
    queued[k].pop_front();
    if (r == pass) return std::nullopt;
    return r;
  }
};

struct seam_fixture : loop_fixture {
  scripted_os os;
  std::vector<std::pair<std::error_code, std::string>> errors;
  options opts() {
    options o;
    o.os = &os;
    o.on_error = [this](std::error_code ec, std::string_view what) {
      errors.emplace_back(ec, std::string(what));
    };
    return o;
  }
  // A spurious SIGCHLD: libuv wakes the loop and the reaper sweeps with nothing to find.
  void spurious_sigchld(reaper& r) {
    const auto before = r.stats().sweeps;
    BOOST_REQUIRE(::kill(::getpid(), SIGCHLD) == 0);
    run_until([&] { return r.stats().sweeps > before; });
  }
};

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

struct fault {
  scripted_os::kind call;
  int err;
};
std::ostream& operator<<(std::ostream& os, const fault& f) {
  static const char* const names[] = {
      "wait4",      "waitid",     "kill",          "spawn",         "sigaction",
      "pidfd_open", "sigmask",    "get_subreaper", "set_subreaper", "epoll_create1",
      "epoll_ctl",  "epoll_wait", "close"};
  return os << names[f.call] << "/" << ::strerrordesc_np(f.err);
}

int subreaper_now() {
  int on = -1;
  BOOST_REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &on) == 0);
  return on;
}

using k = scripted_os::kind;

// Calls made while constructing: the reaper is not created and nothing is left behind.
const std::vector<fault> construction_faults = {
    {k::k_sigaction, EINVAL},     {k::k_sigaction, EFAULT},     {k::k_sigmask, EINVAL},
    {k::k_sigmask, EFAULT},       {k::k_subreaper_get, EINVAL}, {k::k_subreaper_get, EFAULT},
    {k::k_subreaper_set, EINVAL}, {k::k_subreaper_set, EPERM},  {k::k_pidfd, EINVAL},
    {k::k_pidfd, EMFILE},         {k::k_pidfd, ENFILE},         {k::k_pidfd, ENODEV},
    {k::k_pidfd, ENOMEM},         {k::k_epoll_create, EINVAL},  {k::k_epoll_create, EMFILE},
    {k::k_epoll_create, ENFILE},  {k::k_epoll_create, ENOMEM},
};

// posix_spawn's errors (fork/clone and execve): returned, no child, no callback.
const std::vector<int> spawn_errnos = {E2BIG,  EACCES,       EAGAIN, EINVAL, ELOOP,
                                       EMFILE, ENAMETOOLONG, ENFILE, ENOENT, ENOEXEC,
                                       ENOMEM, ENOTDIR,      EPERM,  ETXTBSY};

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

BOOST_DATA_TEST_CASE_F(seam_fixture, every_spawn_errno_is_returned_with_no_child,
                       boost::unit_test::data::make(spawn_errnos), err) {
  reaper r{&loop, opts()};
  os.fail_next(k::k_spawn, err);
  int calls = 0;
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 helper_options({"exit", "0"}), [&](const exit_status&) { ++calls; }, ec) == -1);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(r.size() == 0u);
  run_to_completion();
  BOOST_TEST(calls == 0);
  BOOST_TEST(children_census().empty());
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

BOOST_DATA_TEST_CASE_F(seam_fixture, every_pidfd_open_errno_for_a_child_falls_back_per_child,
                       boost::unit_test::data::make(pidfd_child_errnos), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  if (r.reap_policy() != policy::pidfd) return;  // kernel without pidfd_open
  os.ignore_clone_pidfd = true;                  // so that it opens one after
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

BOOST_DATA_TEST_CASE_F(seam_fixture, every_epoll_ctl_errno_for_a_child_falls_back_per_child,
                       boost::unit_test::data::make(epoll_ctl_errnos), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  if (r.reap_policy() != policy::pidfd) return;  // kernel without pidfd_open
  const int fds = open_fd_count();
  os.fail_next(k::k_epoll_ctl, err);
  std::vector<exit_status> got;
  r.spawn(helper_options({"exit", "13"}), [&](const exit_status& s) { got.push_back(s); });
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 13);
  BOOST_TEST(r.stats().pidfd_fallbacks == 1u);
  BOOST_TEST(open_fd_count() == fds);  // the pidfd that could not be armed was closed
}

BOOST_DATA_TEST_CASE_F(seam_fixture, every_epoll_wait_errno_is_reported_and_the_exit_still_arrives,
                       boost::unit_test::data::make(epoll_wait_errnos), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  if (r.reap_policy() != policy::pidfd) return;  // kernel without pidfd_open
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

BOOST_DATA_TEST_CASE_F(seam_fixture, a_close_error_is_never_retried_and_leaks_no_fd,
                       boost::unit_test::data::make({EINTR, EIO}), err) {
  options o = opts();
  o.reap_policy = policy::pidfd;
  reaper r{&loop, o};
  if (r.reap_policy() != policy::pidfd) return;  // kernel without pidfd_open
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

BOOST_DATA_TEST_CASE_F(seam_fixture, an_fd_check_or_copy_failure_in_spawn_is_returned_with_no_child,
                       boost::unit_test::data::make({0, 1, 2, 3}), which) {
  // stdin from the parent's fd 1: checked (F_GETFD), then copied above 2 (F_DUPFD_CLOEXEC)
  // so that the child's dup2 onto 1 cannot clobber it.
  reaper r{&loop, opts()};
  const int fds = open_fd_count();
  const fault f = std::array<fault, 4>{fault{k::k_fd_flags, EBADF}, fault{k::k_dup, EMFILE},
                                       fault{k::k_dup, EINVAL}, fault{k::k_dup, EBADF}}[which];
  os.fail_next(f.call, f.err);
  auto o = helper_options({"exit", "0"});
  o.stdio_map[0] = stdio::from_fd(1);
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == (f.call == k::k_fd_flags ? EBADF : f.err));
  BOOST_TEST(os.calls[k::k_spawn] == 0);  // refused before any child existed
  BOOST_TEST(open_fd_count() == fds);
  BOOST_TEST(r.size() == 0u);
}

BOOST_AUTO_TEST_CASE(spawn_closes_its_copies_of_stdio_sources_through_the_seam) {
  reaper r{&loop, opts()};
  const int fds = open_fd_count();
  auto o = helper_options({"exit", "6"});
  o.stdio_map[0] = stdio::from_fd(1);  // copied above 2 for the child, then closed
  std::vector<exit_status> got;
  const int closes = os.calls[k::k_close];
  r.spawn(o, [&](const exit_status& s) { got.push_back(s); });
  BOOST_TEST(os.calls[k::k_dup] == 1);
  BOOST_TEST(os.calls[k::k_close] - closes == 1);
  BOOST_TEST(open_fd_count() == fds);
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 6);
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

// --- the spawn engine: clone, the child's steps, the pipes ------------------------

namespace {

// Options that take the child through every step the engine has, as the user we are
// (so that each step succeeds unless a fault is injected), with a pipe on stdout.
spawn_options every_step(uv_pipe_t* out) {
  auto o = helper_options({"exit", "9"});
  o.stdio_map[1] = stdio::pipe(out, stdio::flow::from_child);
  o.new_session = true;
  o.uid = ::getuid();
  o.gid = ::getgid();
  o.groups = std::vector<gid_t>{};  // given (cleared): its failure is never forgiven
  rlimit core{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_CORE, &core) == 0);
  o.rlimits.push_back({RLIMIT_CORE, core.rlim_cur, core.rlim_max});
  o.umask = 022;
  o.parent_death_signal = SIGKILL;
  o.cwd = "/";
  return o;
}

struct child_fault_case {
  detail::child_step step;
  int err;
};
std::ostream& operator<<(std::ostream& os, const child_fault_case& c) {
  return os << static_cast<int>(c.step) << "/" << std::strerror(c.err);
}

const std::vector<child_fault_case> child_faults = {
    {detail::child_step::close_range, EINVAL}, {detail::child_step::session, EPERM},
    {detail::child_step::fds, EMFILE},         {detail::child_step::fds, EBADF},
    {detail::child_step::rlimits, EINVAL},     {detail::child_step::rlimits, EPERM},
    {detail::child_step::groups, EPERM},       {detail::child_step::gid, EPERM},
    {detail::child_step::gid, EINVAL},         {detail::child_step::uid, EPERM},
    {detail::child_step::uid, EAGAIN},         {detail::child_step::pdeathsig, EINVAL},
    {detail::child_step::chdir, ENOENT},       {detail::child_step::chdir, EACCES},
    {detail::child_step::exec, ENOEXEC},       {detail::child_step::exec, E2BIG},
};

}  // namespace

BOOST_DATA_TEST_CASE_F(seam_fixture, a_child_step_that_fails_is_the_callers_error,
                       boost::unit_test::data::make(child_faults), f) {
  // The real child runs every step before the failing one, then reports it: the error
  // comes back from spawn, no child is left (reaped inside), no fd of the pipe leaks,
  // and the pipe handle is left as given.
  reaper r{&loop, opts()};
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  const int fds = open_fd_count();
  os.child_fault = {f.step, f.err};
  std::error_code ec;
  int calls = 0;
  BOOST_TEST(r.spawn(
                 every_step(&out), [&](const exit_status&) { ++calls; }, ec) == -1);
  BOOST_TEST(ec.value() == f.err);
  BOOST_TEST(r.size() == 0u);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds);
  uv_os_fd_t fd = -1;
  BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&out), &fd) == UV_EBADF);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  run_to_completion();
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(every_step_runs_for_real_when_none_fails) {
  reaper r{&loop, opts()};
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  std::vector<exit_status> got;
  const pid_t pid = r.spawn(every_step(&out), [&](const exit_status& s) { got.push_back(s); });
  BOOST_REQUIRE(pid > 0);
  BOOST_REQUIRE(run_until([&] { return !got.empty(); }));
  BOOST_TEST(got[0].code() == 9);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  run_to_completion();
}

BOOST_AUTO_TEST_CASE(a_kernel_without_the_engine_falls_back_to_posix_spawn) {
  // clone refusing its flags, and close_range missing in the child: both ENOSYS, both
  // end in posix_spawn, with the same child and the same fds.
  for (const bool in_child : {false, true}) {
    reaper r{&loop, opts()};
    os.calls = {};
    if (in_child) {
      os.child_fault = {detail::child_step::close_range, ENOSYS};
    } else {
      os.fail_next(k::k_spawn, ENOSYS);
    }
    std::vector<exit_status> got;
    auto o = helper_options({"fds"});
    o.stdio_map.push_back(stdio::null());  // fd 3 in the child: one open fd above 2
    const pid_t pid = r.spawn(o, [&](const exit_status& s) { got.push_back(s); });
    BOOST_REQUIRE(pid > 0);
    BOOST_REQUIRE(run_until([&] { return !got.empty(); }));
    BOOST_TEST(got[0].code() == 1);
    BOOST_TEST(os.calls[k::k_spawn] == 1);
    BOOST_TEST(os.calls[k::k_posix_spawn] == 1);
    BOOST_TEST(children_census().empty());
    os.child_fault = {detail::child_step::none, 0};
  }
}

BOOST_AUTO_TEST_CASE(without_the_engine_what_posix_spawn_cannot_do_is_enosys) {
  reaper r{&loop, opts()};
  const int fds = open_fd_count();
  os.fail_next(k::k_spawn, ENOSYS);
  auto o = helper_options({"exit", "0"});
  o.parent_death_signal = SIGTERM;
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == ENOSYS);
  BOOST_TEST(os.calls[k::k_posix_spawn] == 0);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, clone_errors_are_returned_with_nothing_left,
                       boost::unit_test::data::make({EAGAIN, ENOMEM, EPERM, EINVAL}), err) {
  reaper r{&loop, opts()};
  uv_pipe_t in;
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  const int fds = open_fd_count();
  os.fail_next(k::k_spawn, err);
  auto o = helper_options({"exit", "0"});
  o.stdio_map[0] = stdio::pipe(&in, stdio::flow::to_child);
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(os.calls[k::k_posix_spawn] == 0);
  BOOST_TEST(open_fd_count() == fds);
  BOOST_TEST(r.size() == 0u);
  uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);
  run_to_completion();
}

BOOST_DATA_TEST_CASE_F(seam_fixture, pipe_and_socketpair_errors_leave_no_fd_and_no_child,
                       boost::unit_test::data::make({0, 1, 2, 3}), which) {
  // The second pipe fails: the first one's fds are closed too.
  reaper r{&loop, opts()};
  uv_pipe_t a;
  uv_pipe_t b;
  BOOST_REQUIRE(uv_pipe_init(&loop, &a, 0) == 0);
  BOOST_REQUIRE(uv_pipe_init(&loop, &b, 0) == 0);
  const int fds = open_fd_count();
  const bool duplex = which >= 2;
  const int err = which % 2 == 0 ? EMFILE : ENFILE;
  auto o = helper_options({"exit", "0"});
  o.stdio_map[1] = stdio::pipe(&a, stdio::flow::from_child);
  o.stdio_map[2] = stdio::pipe(&b, duplex ? stdio::flow::both : stdio::flow::from_child);
  if (duplex) {
    os.fail_next(k::k_socketpair, err);
  } else {
    os.pass_next(k::k_pipe);  // the first pipe is made
    os.fail_next(k::k_pipe, err);
  }
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(os.calls[k::k_spawn] == 0);
  BOOST_TEST(open_fd_count() == fds);
  for (uv_pipe_t* p : {&a, &b}) {
    uv_os_fd_t fd = -1;
    BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(p), &fd) == UV_EBADF);
    uv_close(reinterpret_cast<uv_handle_t*>(p), nullptr);
  }
  run_to_completion();
}

BOOST_AUTO_TEST_SUITE_END()
