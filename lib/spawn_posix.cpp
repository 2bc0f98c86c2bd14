// SPDX-License-Identifier: MIT
// uvreap (private): the posix_spawn fallback, for a kernel without clone's or
// close_range's flags (before Linux 5.9): the same fd moves, session, group and signal
// reset as the engine, in posix_spawn's file actions and attributes. Options it cannot
// carry out (identity, rlimits, pdeathsig, ...) never reach it: start() says ENOSYS.
#include <fcntl.h>
#include <signal.h>

#include <new>

#include "errno_code.hpp"
#include "os_calls.hpp"
#include "spawn_plan.hpp"

namespace uvreap::detail {

pid_t spawn_plan::posix_fallback() noexcept {
  try {
    if (auto ec = build_posix(); ec) return -ec.value();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  pid_t pid = -1;
  const int r = os_->spawn(&pid, file_, &actions_, &attr_, argv_.data(), envp_, search_path_);
  return r < 0 ? r : pid;
}

std::error_code spawn_plan::build_posix() {
  if (!actions_init_) {
    if (int e = posix_spawn_file_actions_init(&actions_); e != 0) return errno_code(e);
    actions_init_ = true;
  }
  if (!attr_init_) {
    if (int e = posix_spawnattr_init(&attr_); e != 0) return errno_code(e);
    attr_init_ = true;
  }
  // The same order as the engine: copies onto their targets, then /dev/null, then the
  // closed slots; then nothing at or above the targets' count.
  for (const fd_move& m : moves_) {
    int e = 0;
    if (m.source >= 0 && m.source != m.target) {
      e = posix_spawn_file_actions_adddup2(&actions_, m.source, m.target);
    } else if (m.source == m.target && os_->fd_flags(m.target) >= 0) {
      e = posix_spawn_file_actions_adddup2(&actions_, m.target, m.target);  // clears CLOEXEC
    }
    if (e != 0) return errno_code(e);
  }
  for (const fd_move& m : moves_) {
    int e = 0;
    if (m.source == fd_move::null) {
      e = posix_spawn_file_actions_addopen(&actions_, m.target, "/dev/null", O_RDWR, 0);
    } else if (m.source == fd_move::closed) {
      e = posix_spawn_file_actions_addclose(&actions_, m.target);
    }
    if (e != 0) return errno_code(e);
  }
  if (cwd_ != nullptr) {
    if (int e = posix_spawn_file_actions_addchdir_np(&actions_, cwd_); e != 0) {
      return errno_code(e);
    }
  }
  if (int e = posix_spawn_file_actions_addclosefrom_np(&actions_, static_cast<int>(moves_.size()));
      e != 0) {
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
  if (recipe_.new_session) flags |= POSIX_SPAWN_SETSID;
  if (recipe_.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    if (int e = posix_spawnattr_setpgroup(&attr_, 0); e != 0) return errno_code(e);
  }
  if (int e = posix_spawnattr_setsigmask(&attr_, &none); e != 0) return errno_code(e);
  if (int e = posix_spawnattr_setsigdefault(&attr_, &all); e != 0) return errno_code(e);
  if (int e = posix_spawnattr_setflags(&attr_, flags); e != 0) return errno_code(e);
  return {};
}

}  // namespace uvreap::detail
