// SPDX-License-Identifier: MIT
// uvreap (private): the spawn engine's parent side — the one clone, through the seam,
// and the reaping of a child that failed before its exec.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <memory>
#include <new>

#include "os_calls.hpp"
#include "spawn_child.hpp"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace uvreap::detail {

namespace {

// The child's stack: one per thread, made once. The calling thread is suspended while
// the child uses it, so one suffices however many children the thread makes.
constexpr std::size_t kStackBytes = 64 * 1024;
thread_local std::unique_ptr<unsigned char[]> t_stack;

}  // namespace

pid_t clone_and_exec(child_recipe& r, os_calls& os, int* pidfd) noexcept {
  *pidfd = -1;
  r.failed_step = child_step::none;
  r.error = 0;
  if (!t_stack) {
    t_stack.reset(new (std::nothrow) unsigned char[kStackBytes]);
    if (!t_stack) {
      r.failed_step = child_step::clone;
      return -ENOMEM;
    }
  }
  void* top = t_stack.get() + kStackBytes;  // grows down; new[] is aligned for any type

  int flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD;
  if (r.want_pidfd) flags |= CLONE_PIDFD;
  int fd = -1;

  // No signal handler of ours may run in the child, which shares our memory: block
  // them all across the clone (the child inherits the mask and empties it before exec).
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  if (const int m = ::pthread_sigmask(SIG_SETMASK, &all, &old); m != 0) {
    r.failed_step = child_step::clone;
    return -m;
  }
  const pid_t pid =
      r.cgroup_fd >= 0
          ? os.clone_into_cgroup(run_child, t_stack.get(), kStackBytes, flags, &r, &fd, r.cgroup_fd)
          : os.clone(run_child, top, flags, &r, &fd);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);  // restores a mask it gave us: cannot fail
  if (pid < 0) {
    r.failed_step = child_step::clone;
    return pid;
  }
  if (r.failed_step == child_step::none) {
    *pidfd = fd;  // stays -1 on a kernel that ignores CLONE_PIDFD
    return pid;
  }
  // The child failed and has exited (we run again only after it did): reap it here so
  // that no zombie is left and no reaper sees it. Neither result changes what happens
  // next: a close error still releases the pidfd, and the only other wait4 error is
  // ECHILD, when someone's wait(-1) in another thread took the child first — either way
  // no zombie is left, and the caller gets the child's error, not ours.
  if (fd >= 0) (void)os.close(fd);
  int status = 0;
  (void)os.wait4(pid, &status, __WALL, nullptr);
  return -r.error;
}

}  // namespace uvreap::detail
