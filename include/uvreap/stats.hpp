// SPDX-License-Identifier: MIT
// uvreap: counters a reaper keeps, to prove its complexity without a clock.
#pragma once

#include <cstdint>

namespace uvreap {

/// Counters of one reaper since construction. Cheap to copy; read on the loop thread.
struct stats {
  /// Sweeps run: one per SIGCHLD callback from libuv, one per scheduled continuation.
  std::uint64_t sweeps = 0;
  /// Sweeps that found nothing to reap.
  std::uint64_t empty_sweeps = 0;
  /// Children reaped that belonged to this reaper (callbacks owed, or dropped after close).
  std::uint64_t exits_reaped = 0;
  /// Children reaped by policy `all` that nobody watched (handed to `on_orphan`).
  std::uint64_t orphans_reaped = 0;
  /// Watched children whose status someone else took (delivered as exit_kind::lost).
  std::uint64_t lost = 0;
  /// Policy `own`: peeks whose oldest zombie was ours (reaped without a scan).
  std::uint64_t fast_path_hits = 0;
  /// Sweeps that fell back to asking for children by pid (`wait4(pid)` over a list):
  /// policy `own` when the oldest zombie is someone else's (over every owned child), and
  /// policy `pidfd` over the children that got no pidfd. A safety poll's scan is not a
  /// fallback: it counts in `poll_sweeps`.
  std::uint64_t fallback_scans = 0;
  /// Largest number of exits one sweep collected before dispatching them.
  std::uint64_t largest_batch = 0;
  /// Sweeps cut short by `options::max_batch` and continued on a later loop iteration.
  std::uint64_t continuations = 0;
  /// SIGCHLD callbacks that did not sweep because a continuation was already due.
  std::uint64_t coalesced_signals = 0;
  /// Callbacks that threw (see `options::on_exception`).
  std::uint64_t callback_exceptions = 0;
  /// Unexpected syscall failures reported to `options::on_error`.
  std::uint64_t errors = 0;
  /// Policy `pidfd`: children that got no pidfd (EMFILE, ENFILE, ENOMEM) and are reaped
  /// by per-pid `wait4` on SIGCHLD instead.
  std::uint64_t pidfd_fallbacks = 0;
  /// Policy `pidfd`: pidfds that were readable with nothing to reap (a traced child, for
  /// instance); each is re-armed on a timer, never waited for with a blocking call.
  std::uint64_t pidfd_not_reapable = 0;

  /// Sweeps started by the safety poll timer (`options::poll_interval`); under `own` and
  /// `all` each asks for every owned pid by number.
  std::uint64_t poll_sweeps = 0;
  /// Sweeps started by the safety sweep timer (`options::safety_sweep`).
  std::uint64_t safety_sweeps = 0;
  /// Children whose `spawn_options::time_limit` expired (first signal sent).
  std::uint64_t deadlines_fired = 0;
  /// Signals not sent because the child's exit was already waiting when the library was
  /// about to signal it: a time limit's step (the child is delivered with its own status
  /// instead) or a terminating `close`'s signal or SIGKILL (the child is reaped instead).
  std::uint64_t signals_skipped = 0;
  /// Children registered by `spawn` or `watch` called from another thread, handed to the
  /// loop thread through the reaper's queue.
  std::uint64_t queued_registrations = 0;
  /// Times the reaper made its libuv handles anew because the application had closed
  /// them (a shutdown's `uv_walk` closing every handle it sees).
  std::uint64_t handles_renewed = 0;

  /// Syscalls made through the OS seam, by kind. EINTR retries count as calls.
  struct syscall_counts {
    std::uint64_t wait4 = 0;       ///< reaping by pid, or any child (policy all)
    std::uint64_t waitid = 0;      ///< WNOWAIT peeks (sweeps of policy own, watch)
    std::uint64_t kill = 0;        ///< signals sent
    std::uint64_t spawn = 0;       ///< children created (clone; posix_spawn as fallback)
    std::uint64_t fds = 0;         ///< spawn's stdio: pipes, socket pairs, fd copies
    std::uint64_t sigaction = 0;   ///< SIGCHLD disposition checks
    std::uint64_t pidfd_open = 0;  ///< pidfds opened (policy pidfd)
    std::uint64_t epoll = 0;       ///< epoll_create1, epoll_ctl, epoll_wait (policy pidfd)
    std::uint64_t close = 0;       ///< pidfds, the epoll fd, a spawn's ends for the child
    std::uint64_t other = 0;       ///< sigmask and prctl at construction and close
    std::uint64_t eintr = 0;       ///< calls that returned EINTR and were retried
    /// Every call above except the EINTR count (retries are already counted as calls).
    [[nodiscard]] std::uint64_t total() const noexcept {
      return wait4 + waitid + kill + spawn + fds + sigaction + pidfd_open + epoll + close + other;
    }
    /// Adds every count of `o` (calls made elsewhere, merged into these).
    syscall_counts& operator+=(const syscall_counts& o) noexcept {
      wait4 += o.wait4;
      waitid += o.waitid;
      kill += o.kill;
      spawn += o.spawn;
      fds += o.fds;
      sigaction += o.sigaction;
      pidfd_open += o.pidfd_open;
      epoll += o.epoll;
      close += o.close;
      other += o.other;
      eintr += o.eintr;
      return *this;
    }
  } syscalls;  ///< syscalls by kind
  // A new count must be added to total() and operator+= above.
  static_assert(sizeof(syscall_counts) == 11 * sizeof(std::uint64_t));
};

}  // namespace uvreap
