// SPDX-License-Identifier: MIT
// uvreap (private): the spawn engine's child, `run_child`: what runs between clone and
// exec. Built without sanitizers (see lib/meson.build): the child runs on a borrowed
// stack in the parent's memory, where instrumentation that keeps per-thread state has no
// business running. The parent's side, the clone itself, is spawn_engine.cpp.
//
// The child shares the parent's memory (CLONE_VM) and, until its first step, the
// parent's fd table (CLONE_FILES), while the calling thread is suspended (CLONE_VFORK)
// until the child execs or exits. So the child only makes raw syscalls through
// syscall(2) — no allocation, no locks, no glibc wrapper that keeps process state
// (glibc's setuid broadcasts to the parent's threads) — and its first step gives it a
// private fd table holding only the fds it needs: close_range(CLOSE_RANGE_UNSHARE) copies
// just the fds below the range, so the cost does not grow with the parent's open fds.
//
// Reporting errors: the child writes the failed step and its errno into the recipe,
// which lives in the parent's frame, then exits. This is race-free: the parent thread
// does not run again until the child has exited (CLONE_VFORK), and the kernel orders the
// child's writes before that wake-up; when the exec succeeds the fields stay untouched.
#include "spawn_child.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace uvreap::detail {

namespace {

// The kernel's struct for rt_sigaction (not glibc's, which differs in layout).
struct kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long mask;
};
constexpr long kSigsetBytes = sizeof(unsigned long);
constexpr int kLastSignal = 64;

// One raw syscall; -errno on failure.
template <class... Args>
long sys(long number, Args... args) noexcept {
  const long r = ::syscall(number, args...);
  return r < 0 ? -errno : r;
}

[[noreturn]] void fail(child_recipe& r, child_step step, long err) noexcept {
  r.failed_step = step;
  r.error = static_cast<int>(-err);
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

// The injected fault for `step`, or 0.
long injected(const child_recipe& r, child_step step) noexcept {
  return r.fault_step == step ? -r.fault_errno : 0;
}

bool moves_on(long err) noexcept {
  // execvp's rule: these mean "not here, try the next directory".
  return err == -ENOENT || err == -ENOTDIR || err == -ESTALE || err == -ENODEV ||
         err == -ETIMEDOUT || err == -EACCES;
}

void place_fds(child_recipe& r) noexcept {
  const int n = r.move_count;
  // Sources other than the target's own number are all >= n (copied there by the
  // parent), so no dup2 below can clobber a source still to be used.
  for (int i = 0; i < n; ++i) {
    const fd_move& m = r.moves[i];
    long e = 0;
    if (m.source >= 0 && m.source != m.target) {
      e = sys(SYS_dup2, m.source, m.target);  // clears FD_CLOEXEC on the target
    } else if (m.source == m.target) {
      // Inherit: keep it open across exec. A closed fd of the parent stays closed.
      e = sys(SYS_fcntl, m.target, F_SETFD, 0);
      if (e == -EBADF) e = 0;
    }
    if (e >= 0 && m.blocking) {
      // fcntl(F_GETFL) then F_SETFL: async-signal-safe, and EBADF only for an inherited
      // fd the parent does not have open (it stays closed).
      const long flags = sys(SYS_fcntl, m.target, F_GETFL);
      if (flags >= 0 && (flags & O_NONBLOCK) != 0) {
        e = sys(SYS_fcntl, m.target, F_SETFL, flags & ~static_cast<long>(O_NONBLOCK));
      } else if (flags < 0 && flags != -EBADF) {
        e = flags;
      }
    }
    if (long f = injected(r, child_step::fds); f != 0) e = f;
    if (e < 0) fail(r, child_step::fds, e);
  }
  for (int i = 0; i < n; ++i) {
    const fd_move& m = r.moves[i];
    long e = 0;
    if (m.source == fd_move::null) {
      const long fd = sys(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR, 0);
      if (fd < 0) fail(r, child_step::fds, fd);
      if (fd != m.target) {
        e = sys(SYS_dup2, fd, m.target);
        (void)sys(SYS_close, fd);  // a slot below n that is still to be filled or closed
      }
    } else if (m.source == fd_move::closed) {
      e = sys(SYS_close, m.target);
      if (e == -EBADF) e = 0;
    }
    if (e < 0) fail(r, child_step::fds, e);
  }
  // The parent's copies and whatever else sits at n or above — but the sandbox's
  // ruleset, which the child applies later and closes then.
  const int keep = r.ruleset_fd;
  long e = 0;
  if (keep >= n) {
    if (keep > n) e = sys(SYS_close_range, n, keep - 1, 0);
    if (e >= 0) e = sys(SYS_close_range, keep + 1, ~0U, 0);
  } else {
    e = sys(SYS_close_range, n, ~0U, 0);
  }
  if (e < 0) fail(r, child_step::fds, e);
}

void confine(child_recipe& r) noexcept {
  // No new privileges first: Landlock and seccomp require it of an unprivileged process,
  // and a set-user-ID program must not run with more than the sandbox allows.
  long e = injected(r, child_step::sandbox);
  if (e == 0 && r.no_new_privs) e = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (e == 0 && r.ruleset_fd >= 0) {
    e = sys(SYS_landlock_restrict_self, r.ruleset_fd, 0);
    if (e >= 0) e = sys(SYS_close, r.ruleset_fd);
  }
  if (e < 0) fail(r, child_step::sandbox, e);
}

void set_identity(child_recipe& r) noexcept {
  for (std::size_t i = 0; i < r.rlimit_count; ++i) {
    long e = injected(r, child_step::rlimits);
    if (e == 0) e = sys(SYS_prlimit64, 0, r.rlimits[i].resource, &r.rlimits[i].limit, nullptr);
    if (e < 0) fail(r, child_step::rlimits, e);
  }
  if (r.set_umask) (void)sys(SYS_umask, r.umask);
  if (r.set_groups || r.drop_groups) {
    long e = injected(r, child_step::groups);
    if (e == 0) e = sys(SYS_setgroups, r.set_groups ? r.group_count : 0, r.groups);
    // Not allowed to drop them, but there are none: the caller asked for nothing more.
    if (e < 0 && r.drop_groups && sys(SYS_getgroups, 0, nullptr) == 0) e = 0;
    if (e < 0) fail(r, child_step::groups, e);
  }
  if (r.set_gid) {
    long e = injected(r, child_step::gid);
    if (e == 0) e = sys(SYS_setgid, r.gid);
    if (e < 0) fail(r, child_step::gid, e);
  }
  if (r.set_uid) {
    long e = injected(r, child_step::uid);
    if (e == 0) e = sys(SYS_setuid, r.uid);
    if (e < 0) fail(r, child_step::uid, e);
  }
  // After setuid, which clears the parent-death signal.
  if (r.pdeathsig != 0) {
    long e = injected(r, child_step::pdeathsig);
    if (e == 0) e = sys(SYS_prctl, PR_SET_PDEATHSIG, r.pdeathsig, 0, 0, 0);
    if (e < 0) fail(r, child_step::pdeathsig, e);
  }
}

}  // namespace

int run_child(void* arg) noexcept {
  auto& r = *static_cast<child_recipe*>(arg);
  // First: a fd table of our own with only the fds below the range, so nothing we do
  // from here on touches the parent's.
  long e = injected(r, child_step::close_range);
  if (e == 0) e = sys(SYS_close_range, r.unshare_from, ~0U, CLOSE_RANGE_UNSHARE);
  if (e < 0) fail(r, child_step::close_range, e);

  // Every signal is blocked (the parent blocked them all before clone), so none of the
  // parent's handlers can run here; set every disposition back to the default, SIG_IGN
  // included, before the mask is emptied.
  kernel_sigaction dfl{};
  for (int sig = 1; sig <= kLastSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (long s = sys(SYS_rt_sigaction, sig, &dfl, nullptr, kSigsetBytes); s < 0 && s != -EINVAL) {
      fail(r, child_step::signals, s);
    }
  }

  if (r.new_session || r.new_process_group) {
    e = injected(r, child_step::session);
    if (e == 0) e = r.new_session ? sys(SYS_setsid) : sys(SYS_setpgid, 0, 0);
    if (e < 0) fail(r, child_step::session, e);
  }
  place_fds(r);
  if (r.controlling_terminal >= 0) {
    // A session leader without a controlling terminal takes the slave as its own; its
    // group becomes the terminal's foreground group.
    e = injected(r, child_step::terminal);
    if (e == 0) e = sys(SYS_ioctl, r.controlling_terminal, TIOCSCTTY, 0);
    if (e < 0) fail(r, child_step::terminal, e);
  }
  if (r.foreground) {
    // The group's own terminal: allowed although we are not its foreground group yet,
    // because SIGTTOU is blocked here. No terminal on fd 0 is not an error.
    e = injected(r, child_step::terminal);
    if (e == 0) {
      const long pgrp = sys(SYS_getpgid, 0);
      const pid_t pg = static_cast<pid_t>(pgrp);
      e = pgrp < 0 ? pgrp : sys(SYS_ioctl, 0, TIOCSPGRP, &pg);
      if (e == -ENOTTY || e == -ENXIO || e == -EBADF) e = 0;
    }
    if (e < 0) fail(r, child_step::terminal, e);
  }
  set_identity(r);
  confine(r);
  if (r.cwd != nullptr) {
    e = injected(r, child_step::chdir);
    if (e == 0) e = sys(SYS_chdir, r.cwd);
    if (e < 0) fail(r, child_step::chdir, e);
  }
  if (r.seccomp != nullptr) {
    // Last: from here the filter judges every call, exec's included.
    e = injected(r, child_step::seccomp);
    if (e == 0) e = sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, r.seccomp);
    if (e < 0) fail(r, child_step::seccomp, e);
  }

  unsigned long none = 0;
  if (e = sys(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, kSigsetBytes); e < 0) {
    fail(r, child_step::signals, e);
  }
  long err = injected(r, child_step::exec);
  bool eacces = false;
  for (std::size_t i = 0; err == 0 && i < r.path_count; ++i) {
    long x = sys(SYS_execve, r.paths[i], r.argv, r.envp);
    if (x == -ENOEXEC && r.shell_argv != nullptr) {
      r.shell_argv[1] = const_cast<char*>(r.paths[i]);
      x = sys(SYS_execve, "/bin/sh", r.shell_argv, r.envp);
    }
    eacces = eacces || x == -EACCES;
    err = x;
    if (moves_on(x) && i + 1 < r.path_count) err = 0;
  }
  if (err == 0) err = -ENOENT;  // no candidate at all
  if (eacces && moves_on(err)) err = -EACCES;
  fail(r, child_step::exec, err);
}

}  // namespace uvreap::detail
