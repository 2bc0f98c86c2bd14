// SPDX-License-Identifier: MIT
// uvreap (private): validation of spawn_options and posix_spawn set-up.
#include "spawner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <string_view>

#include "errno_code.hpp"

extern char** environ;

namespace uvreap::detail {

namespace {

bool has_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

char* mut(const std::string& s) noexcept {
  return const_cast<char*>(s.c_str());
}

}  // namespace

spawn_plan::~spawn_plan() {
  if (actions_init_) posix_spawn_file_actions_destroy(&actions_);
  if (attr_init_) posix_spawnattr_destroy(&attr_);
  for (int fd : temp_fds_)
    (void)os_->close(fd);  // an error (EINTR) still releases the fd: nothing to retry
}

std::error_code spawn_plan::prepare(const spawn_options& opts, sys::interface& os) noexcept {
  os_ = &os;
  try {
    return build(opts);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::error_code spawn_plan::build(const spawn_options& opts) {
  // Reject what exec would silently truncate or misread, before any child exists.
  if (opts.argv.empty() || (opts.file.empty() && opts.argv[0].empty())) {
    return errno_code(EINVAL);
  }
  if (opts.new_session && opts.new_process_group) return errno_code(EINVAL);
  if (const auto& t = opts.time_limit) {
    if (t->after.count() <= 0 || t->grace.count() < 0 || t->signal <= 0 || t->signal >= NSIG) {
      return errno_code(EINVAL);
    }
    // A group signal needs a group of the child's own, or it would hit ours.
    if (t->process_group && !opts.new_session && !opts.new_process_group) {
      return errno_code(EINVAL);
    }
  }
  if (has_nul(opts.file) || has_nul(opts.cwd)) return errno_code(EINVAL);
  for (const auto& a : opts.argv) {
    if (has_nul(a)) return errno_code(EINVAL);
  }
  if (opts.env) {
    for (const auto& e : *opts.env) {
      const auto eq = e.find('=');
      if (eq == std::string::npos || eq == 0 || has_nul(e)) return errno_code(EINVAL);
    }
  }

  const std::string& file = opts.file.empty() ? opts.argv[0] : opts.file;
  file_ = file.c_str();
  search_path_ = opts.search_path && file.find('/') == std::string::npos;

  argv_.reserve(opts.argv.size() + 1);
  for (const auto& a : opts.argv)
    argv_.push_back(mut(a));
  argv_.push_back(nullptr);
  if (opts.env) {
    env_.reserve(opts.env->size() + 1);
    for (const auto& e : *opts.env)
      env_.push_back(mut(e));
    env_.push_back(nullptr);
    envp_ = env_.data();
  } else {
    envp_ = environ;
  }

  if (int e = posix_spawn_file_actions_init(&actions_); e != 0) return errno_code(e);
  actions_init_ = true;
  if (int e = posix_spawnattr_init(&attr_); e != 0) return errno_code(e);
  attr_init_ = true;

  // stdio. A source fd that is itself 0-2 but goes to another slot would be clobbered
  // by an earlier dup2 in the child (stdin <- stdout, stdout <- stdin), so it is first
  // duplicated in the parent above 2; the child then only ever dup2s from fds > 2 or
  // onto the same number (which glibc turns into clearing FD_CLOEXEC).
  temp_fds_.reserve(3);
  for (int target = 0; target < 3; ++target) {
    const stdio& s = opts.stdio_map[static_cast<std::size_t>(target)];
    int e = 0;
    switch (s.how) {
      case stdio::kind::inherit:
        break;
      case stdio::kind::dev_null:
        e = posix_spawn_file_actions_addopen(&actions_, target, "/dev/null", O_RDWR, 0);
        break;
      case stdio::kind::fd: {
        if (s.fd < 0 || os_->fd_flags(s.fd) < 0) return errno_code(EBADF);
        int src = s.fd;
        if (src < 3 && src != target) {
          src = os_->dup_cloexec(s.fd, 3);
          if (src < 0) return errno_code(-src);
          temp_fds_.push_back(src);  // room reserved above: cannot throw and leak it
        }
        e = posix_spawn_file_actions_adddup2(&actions_, src, target);
        break;
      }
    }
    if (e != 0) return errno_code(e);
  }
  if (!opts.cwd.empty()) {
    if (int e = posix_spawn_file_actions_addchdir_np(&actions_, opts.cwd.c_str()); e != 0) {
      return errno_code(e);
    }
  }
  // Nothing of ours (the loop's epoll fd, libuv's signal pipe, other children's pipes)
  // may leak into the child, CLOEXEC or not.
  if (int e = posix_spawn_file_actions_addclosefrom_np(&actions_, 3); e != 0) {
    return errno_code(e);
  }

  // The child starts clean whatever the server did to its own signals: nothing blocked
  // (libuv's loop threads may have blocked some), every disposition default.
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
#if defined(__GLIBC__) && defined(__linux__)
  // glibc keeps its two internal signals (SIGCANCEL and SIGSETXID, __SIGRTMIN up to
  // SIGRTMIN) out of sigfillset, and its spawn helper sets them to SIG_IGN in the child
  // unless they are in the "set to default" set, so every program we exec would start
  // with them ignored. sigaddset refuses them, so set their bits directly; the reset
  // happens in the child only (it has its own signal table), after which exec runs.
  for (int sig = __SIGRTMIN; sig < SIGRTMIN; ++sig) {
    constexpr int kBits = 8 * sizeof(all.__val[0]);
    all.__val[(sig - 1) / kBits] |= 1ul << ((sig - 1) % kBits);
  }
#endif
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (opts.new_session) flags |= POSIX_SPAWN_SETSID;
  if (opts.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    if (int e = posix_spawnattr_setpgroup(&attr_, 0); e != 0) return errno_code(e);
  }
  if (int e = posix_spawnattr_setsigmask(&attr_, &none); e != 0) return errno_code(e);
  if (int e = posix_spawnattr_setsigdefault(&attr_, &all); e != 0) return errno_code(e);
  if (int e = posix_spawnattr_setflags(&attr_, flags); e != 0) return errno_code(e);
  return {};
}

}  // namespace uvreap::detail
