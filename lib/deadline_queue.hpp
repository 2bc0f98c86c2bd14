// SPDX-License-Identifier: MIT
// uvreap (private): pending time-limit steps in due order, on a clock the caller gives.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace uvreap::detail {

/// The steps of every pending time limit, in due order. No libuv and no clock of its
/// own: every time is a number of milliseconds the caller passes in, so tests drive it
/// with a fake clock.
///
/// A limit has up to two steps: its first signal, then SIGKILL a grace period later.
/// Each limit gets a serial that its owner keeps with the child (the reaper keeps it in
/// the child's table entry); a step whose serial no longer matches is stale — the child
/// was reaped — and its owner skips it. Stale steps are dropped all at once when no limit
/// is live any more, so a reaper whose children all exited in time holds nothing.
///
/// Memory: `reserve_one()` makes room for one more limit; after it, `arm` and
/// `follow_with_kill` cannot fail (a limit never has more than one step queued).
class deadline_queue {
 public:
  struct step {
    std::uint64_t due_ms;    ///< when, on the caller's clock
    pid_t pid;               ///< the child
    std::uint32_t serial;    ///< the limit's serial; never 0
    int signal;              ///< the signal this step sends
    std::uint64_t grace_ms;  ///< first step: how long until its SIGKILL step
    bool group;              ///< signal the child's process group
    bool final;              ///< nothing follows this step
  };

  /// `first_serial` lets tests start near the wrap-around; serials skip 0.
  explicit deadline_queue(std::uint32_t first_serial = 0) noexcept : last_serial_(first_serial) {}

  /// Room for one more limit (throws std::bad_alloc).
  void reserve_one();

  /// A new limit for `pid`: `signal` at `due_ms`, then SIGKILL `grace_ms` after it (no
  /// second step when `signal` is SIGKILL). Returns its serial. Needs `reserve_one()`.
  std::uint32_t arm(pid_t pid, std::uint64_t due_ms, int signal, std::uint64_t grace_ms,
                    bool group) noexcept;

  /// Takes the earliest step due at `now_ms` (due_ms <= now_ms) into `out`; false when
  /// none is due. The caller checks its serial, acts, then calls `follow_with_kill` or
  /// `ended`.
  bool pop_due(std::uint64_t now_ms, step& out) noexcept;

  /// Queues the SIGKILL step of a first step that just fired at `now_ms`.
  void follow_with_kill(const step& fired, std::uint64_t now_ms) noexcept;

  /// A limit ended: its child was reaped, or its last step was taken. When none is live
  /// any more, every queued step is stale and is dropped.
  void ended() noexcept;

  /// When the earliest queued step is due; nullopt when nothing is queued.
  [[nodiscard]] std::optional<std::uint64_t> next_due() const noexcept;
  /// Limits armed and not ended.
  [[nodiscard]] std::size_t live() const noexcept { return live_; }
  /// Steps queued, stale ones included.
  [[nodiscard]] std::size_t queued() const noexcept { return heap_.size(); }
  /// Drops everything (the reaper closed).
  void clear() noexcept;

 private:
  void push(const step& s) noexcept;

  std::vector<step> heap_;  // a min-heap on due_ms
  std::uint32_t last_serial_;
  std::size_t live_ = 0;
};

}  // namespace uvreap::detail
