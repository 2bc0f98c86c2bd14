// SPDX-License-Identifier: MIT
// uvreap, for tests: the OS seam. Every syscall the library makes in the parent goes
// through it, so a test can script the kernel's answers (`options::os`).
//
// NOT A STABLE API. This header is installed for tests of code built on uvreap, but the
// seam follows the library's internals: a release may add, remove or change members (and
// so the vtable) without a major version. Derive from it in tests; do not ship code that
// depends on its layout. Not included by <uvreap/uvreap.hpp>.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cstddef>

struct rusage;
struct epoll_event;

#pragma GCC visibility push(default)  // the public API; the rest of the library is hidden
namespace uvreap::sys {

/// The thin interface between the reaper and the kernel.
///
/// Each member makes exactly one attempt of one call and returns its raw outcome as a
/// number: `-errno` on failure (so `-EINTR` reaches the caller, which retries it in one
/// place), never a thrown exception. The reaper counts every call in its stats.
///
/// The default implementation (`sys::os()`) calls the kernel. Tests, and users who want
/// to provoke failures in their own code, derive from it and override what they need:
/// a fake that returns `-EINTR` once and then forwards is the typical use.
///
/// Thread-safety: the default implementation is stateless and safe from any thread. A
/// reaper calls its seam only from its loop thread.
class interface {
 public:
  interface() = default;
  interface(const interface&) = delete;
  interface& operator=(const interface&) = delete;
  virtual ~interface();

  /// `wait4(pid, status, options, usage)`: the reaped pid, 0, or -errno.
  virtual pid_t wait4(pid_t pid, int* status, int options, ::rusage* usage) noexcept;

  /// `waitid(type, id, info, options)`: 0 or -errno.
  virtual int waitid(idtype_t type, id_t id, siginfo_t* info, int options) noexcept;

  /// `kill(pid, sig)`: 0 or -errno.
  virtual int kill(pid_t pid, int sig) noexcept;

  /// `posix_spawn` (or `posix_spawnp` when `search_path`): 0 or -errno. `*pid` is set
  /// only on success. A failed exec is reported here (glibc's spawn waits for the
  /// failed child, so it leaves no zombie). Used only where `clone` says ENOSYS.
  virtual int spawn(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                    const posix_spawnattr_t* attr, char* const argv[], char* const envp[],
                    bool search_path) noexcept;

  /// `clone(fn, stack_top, flags, arg, pidfd)`: the spawn engine's one call in the
  /// parent. The child runs `fn(arg)` on `stack_top` (the library's flags include
  /// CLONE_VM | CLONE_VFORK, so this returns once the child has exec'd or exited; with
  /// CLONE_PIDFD the kernel stores the child's pidfd in `*pidfd`). The pid, or -errno.
  /// -ENOSYS makes the library fall back to `spawn` (posix_spawn).
  /// `arg` is the library's private description of the child: pass it on unchanged.
  virtual pid_t clone(int (*fn)(void*), void* stack_top, int flags, void* arg, int* pidfd) noexcept;

  /// `clone3` with CLONE_INTO_CGROUP: as `clone`, but the child is born in the cgroup v2
  /// directory open as `cgroup_fd` (never moved there after birth). `stack` is the lowest
  /// address of `stack_size` bytes; `flags` are `clone`'s (the exit signal in the low
  /// byte). The pid, or -errno: -ENOSYS where the kernel or a seccomp filter refuses
  /// clone3 (container runtimes' default filters do) or does not know CLONE_INTO_CGROUP
  /// (before Linux 5.7), or on an architecture the library has no clone3 entry for (it
  /// has one for x86-64).
  virtual pid_t clone_into_cgroup(int (*fn)(void*), void* stack, std::size_t stack_size,
                                  int flags, void* arg, int* pidfd, int cgroup_fd) noexcept;

  /// `pipe2(fds, flags)`: 0 or -errno.
  virtual int pipe2(int fds[2], int flags) noexcept;

  /// `socketpair(domain, type, protocol, fds)`: 0 or -errno.
  virtual int socketpair(int domain, int type, int protocol, int fds[2]) noexcept;

  /// `sigaction(sig, nullptr, old)`: 0 or -errno. Used to inspect SIGCHLD's disposition.
  virtual int get_sigaction(int sig, struct sigaction* old) noexcept;

  /// `pthread_sigmask(SIG_BLOCK, nullptr, mask)` of the calling thread: 0 or -errno.
  virtual int get_sigmask(sigset_t* mask) noexcept;

  /// `prctl(PR_GET_CHILD_SUBREAPER)`: 0 or -errno; `*on` is set to 0 or 1.
  virtual int get_child_subreaper(int* on) noexcept;

  /// `prctl(PR_SET_CHILD_SUBREAPER, on)`: 0 or -errno.
  virtual int set_child_subreaper(int on) noexcept;

  /// `pidfd_open(pid, flags)` (Linux >= 5.3): a new CLOEXEC fd, or -errno (ENOSYS on an
  /// older kernel, EMFILE/ENFILE when out of fds, ESRCH when there is no such process).
  virtual int pidfd_open(pid_t pid, unsigned flags) noexcept;

  /// `epoll_create1(flags)` (policy pidfd's set of pidfds): a new fd, or -errno.
  virtual int epoll_create1(int flags) noexcept;

  /// `epoll_ctl(epfd, op, fd, event)`: 0 or -errno.
  virtual int epoll_ctl(int epfd, int op, int fd, ::epoll_event* event) noexcept;

  /// `epoll_wait(epfd, events, max_events, timeout_ms)`: the number of ready events, or
  /// -errno.
  virtual int epoll_wait(int epfd, ::epoll_event* events, int max_events, int timeout_ms) noexcept;

  /// `fcntl(fd, F_GETFD)`: the fd's flags, or -errno (EBADF: not an open fd). How
  /// `spawn` checks a `stdio::from_fd` source.
  virtual int fd_flags(int fd) noexcept;

  /// `fcntl(fd, F_DUPFD_CLOEXEC, min_fd)`: a CLOEXEC copy of `fd` numbered `min_fd` or
  /// above, or -errno (EMFILE, EINVAL, EBADF).
  virtual int dup_cloexec(int fd, int min_fd) noexcept;

  /// A new pseudo-terminal pair for `spawn_options::terminal`: `fds[0]` the master
  /// (/dev/ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC, unlocked), `fds[1]` its slave (O_RDWR |
  /// O_NOCTTY | O_CLOEXEC, TIOCGPTPEER or by its /dev/pts path), sized `cols` x `rows`,
  /// IUTF8 set. Several calls, unlike the other members; on failure none of the pair is
  /// left open. The pty's number (TIOCGPTN), or -errno (ENOENT/ENXIO: no /dev/ptmx,
  /// ENOSPC: the system's pty limit, EMFILE, ENFILE).
  virtual int open_pty(int fds[2], unsigned short cols, unsigned short rows) noexcept;

  /// The Landlock ABI version (`landlock_create_ruleset(NULL, 0,
  /// LANDLOCK_CREATE_RULESET_VERSION)`), 0 where there is none (ENOSYS: not built in,
  /// EOPNOTSUPP: disabled at boot). How `spawn_options::sandbox` learns what it can
  /// enforce; a scripted seam makes an older kernel.
  virtual int landlock_abi() noexcept;

  /// `close(fd)`: 0 or -errno. On Linux the fd is released even when close reports an
  /// error (EINTR included), so the caller never retries it.
  virtual int close(int fd) noexcept;
};

/// The process-wide default seam that talks to the kernel.
[[nodiscard]] interface& os() noexcept;

}  // namespace uvreap::sys
#pragma GCC visibility pop
