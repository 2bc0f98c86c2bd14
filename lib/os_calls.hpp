// SPDX-License-Identifier: MIT
// uvreap (private): the seam's calls as the library makes them — counted in stats, and
// EINTR retried here and nowhere else.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdint>

#include "uvreap/stats.hpp"
#include "uvreap/testing/sys.hpp"

struct rusage;
struct epoll_event;

namespace uvreap::detail {

/// Calls `call` until it returns something other than -EINTR, counting every attempt in
/// `counter` and every retry in `eintr`. The one place where EINTR is retried.
template <class Call>
auto retry_eintr(std::uint64_t& counter, std::uint64_t& eintr, Call&& call) noexcept {
  for (;;) {
    ++counter;
    const auto r = call();
    if (r != -EINTR) return r;
    ++eintr;
  }
}

/// A `sys::interface` plus the counters its calls are counted in. Every member makes one
/// call of the seam (retried on EINTR, except `close`) and counts it by kind; results are
/// the seam's: a value, or -errno. One thread at a time (the counters are not atomic):
/// the reaper's own on the loop thread; a spawn on another thread makes one over a local
/// `stats::syscall_counts` and hands the counts to the loop thread (thread_inbox::count).
class os_calls {
 public:
  os_calls(sys::interface& os, stats::syscall_counts& counts) noexcept : os_(os), n_(counts) {}
  os_calls(const os_calls&) = delete;
  os_calls& operator=(const os_calls&) = delete;

  /// The seam itself, for calls made on other threads with counters of their own.
  [[nodiscard]] sys::interface& seam() const noexcept { return os_; }

  pid_t wait4(pid_t pid, int* status, int options, ::rusage* usage) noexcept {
    return retry_eintr(n_.wait4, n_.eintr, [&] { return os_.wait4(pid, status, options, usage); });
  }
  int waitid(idtype_t type, id_t id, siginfo_t* info, int options) noexcept {
    return retry_eintr(n_.waitid, n_.eintr, [&] { return os_.waitid(type, id, info, options); });
  }
  int kill(pid_t pid, int sig) noexcept {
    return retry_eintr(n_.kill, n_.eintr, [&] { return os_.kill(pid, sig); });
  }
  int pidfd_open(pid_t pid) noexcept {
    return retry_eintr(n_.pidfd_open, n_.eintr, [&] { return os_.pidfd_open(pid, 0); });
  }
  int epoll_create1(int flags) noexcept {
    return retry_eintr(n_.epoll, n_.eintr, [&] { return os_.epoll_create1(flags); });
  }
  int epoll_ctl(int epfd, int op, int fd, ::epoll_event* ev) noexcept {
    return retry_eintr(n_.epoll, n_.eintr, [&] { return os_.epoll_ctl(epfd, op, fd, ev); });
  }
  int epoll_wait(int epfd, ::epoll_event* events, int max_events) noexcept {
    return retry_eintr(n_.epoll, n_.eintr,
                       [&] { return os_.epoll_wait(epfd, events, max_events, 0); });
  }
  /// Never retried: on Linux the fd is released even when close reports EINTR.
  int close(int fd) noexcept {
    ++n_.close;
    return os_.close(fd);
  }
  int get_sigaction(int sig, struct sigaction* old) noexcept {
    return retry_eintr(n_.sigaction, n_.eintr, [&] { return os_.get_sigaction(sig, old); });
  }
  int get_sigmask(sigset_t* mask) noexcept {
    return retry_eintr(n_.other, n_.eintr, [&] { return os_.get_sigmask(mask); });
  }
  int get_child_subreaper(int* on) noexcept {
    return retry_eintr(n_.other, n_.eintr, [&] { return os_.get_child_subreaper(on); });
  }
  int set_child_subreaper(int on) noexcept {
    return retry_eintr(n_.other, n_.eintr, [&] { return os_.set_child_subreaper(on); });
  }
  int pipe2(int fds[2], int flags) noexcept {
    return retry_eintr(n_.fds, n_.eintr, [&] { return os_.pipe2(fds, flags); });
  }
  int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
    return retry_eintr(n_.fds, n_.eintr,
                       [&] { return os_.socketpair(domain, type, protocol, fds); });
  }
  int open_pty(int fds[2], unsigned short cols, unsigned short rows) noexcept {
    return retry_eintr(n_.fds, n_.eintr, [&] { return os_.open_pty(fds, cols, rows); });
  }
  int landlock_abi() noexcept {
    return retry_eintr(n_.other, n_.eintr, [&] { return os_.landlock_abi(); });
  }
  int fd_flags(int fd) noexcept {
    return retry_eintr(n_.fds, n_.eintr, [&] { return os_.fd_flags(fd); });
  }
  int dup_cloexec(int fd, int min_fd) noexcept {
    return retry_eintr(n_.fds, n_.eintr, [&] { return os_.dup_cloexec(fd, min_fd); });
  }
  pid_t clone(int (*fn)(void*), void* stack_top, int flags, void* arg, int* pidfd) noexcept {
    return retry_eintr(n_.spawn, n_.eintr,
                       [&] { return os_.clone(fn, stack_top, flags, arg, pidfd); });
  }
  pid_t clone_into_cgroup(int (*fn)(void*), void* stack, std::size_t stack_size, int flags,
                          void* arg, int* pidfd, int cgroup_fd) noexcept {
    return retry_eintr(n_.spawn, n_.eintr, [&] {
      return os_.clone_into_cgroup(fn, stack, stack_size, flags, arg, pidfd, cgroup_fd);
    });
  }
  int spawn(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
            const posix_spawnattr_t* attr, char* const argv[], char* const envp[],
            bool search_path) noexcept {
    return retry_eintr(n_.spawn, n_.eintr, [&] {
      return os_.spawn(pid, file, actions, attr, argv, envp, search_path);
    });
  }

 private:
  sys::interface& os_;
  stats::syscall_counts& n_;
};

}  // namespace uvreap::detail
