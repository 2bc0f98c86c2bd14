// SPDX-License-Identifier: MIT
// uvreap tests: the scripted OS seam — the kernel, except for the results a test queues —
// and the fixture of the fault matrices (test/sys_test.cpp for reaping,
// test/spawn_seam_test.cpp for spawning).
#pragma once

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "spawn_child.hpp"
#include "support.hpp"
#include "uvreap/reaper.hpp"
#include "uvreap/testing/sys.hpp"

namespace uvreap::test {

// Forwards to the kernel, except that each kind of call first returns whatever results
// a test queued for it, and every call is counted. Calls may come from the reaper's
// starter thread (spawn_async) as well as the loop thread: the queues and counts are
// taken under a mutex. A test reads `calls` once the call it waits for has come back to
// the loop thread.
class scripted_os : public sys::interface {
 public:
  enum kind {
    k_wait4,
    k_waitid,
    k_kill,
    k_spawn,  // the engine's clone
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
    k_pty,
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
  // `child_fault` makes the real child fail that step with that errno (the library's
  // `arg` is its child_recipe, a private type the tests may see).
  pid_t clone(int (*fn)(void*), void* stack_top, int flags, void* arg,
              int* pidfd) noexcept override {
    if (auto r = next(k_spawn)) return *r;
    if (ignore_clone_pidfd) flags &= ~CLONE_PIDFD;  // a kernel before 5.2 ignores it
    auto& recipe = *static_cast<detail::child_recipe*>(arg);
    recipe.fault_step = child_fault.first;
    recipe.fault_errno = child_fault.second;
    return interface::clone(fn, stack_top, flags, arg, pidfd);
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
  int open_pty(int fds[2], unsigned short cols, unsigned short rows) noexcept override {
    if (auto r = next(k_pty)) return *r;
    return interface::open_pty(fds, cols, rows);
  }
  int close(int fd) noexcept override {
    // As on Linux, the fd is released whatever close reports.
    const int real = interface::close(fd);
    if (auto r = next(k_close)) return *r;
    return real;
  }

 private:
  std::mutex mu_;
  std::optional<int> next(kind k) {
    std::lock_guard lock(mu_);
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

struct fault {
  scripted_os::kind call;
  int err;
};
inline std::ostream& operator<<(std::ostream& os, const fault& f) {
  static const char* const names[] = {
      "wait4",      "waitid",        "kill",          "clone",         "posix_spawn",
      "pipe2",      "socketpair",    "sigaction",     "pidfd_open",    "sigmask",
      "get_subreaper", "set_subreaper", "epoll_create1", "epoll_ctl",  "epoll_wait",
      "close",      "fd_flags",      "dup",           "open_pty"};
  static_assert(sizeof names / sizeof names[0] == scripted_os::k_count);
  return os << names[f.call] << "/" << ::strerrordesc_np(f.err);
}

using k = scripted_os::kind;

}  // namespace uvreap::test
