// SPDX-License-Identifier: MIT
// uvreap (private): the seam between the reaper's core and its three policies.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "child_table.hpp"
#include "os_calls.hpp"
#include "reap_by_pid.hpp"
#include "registrations.hpp"
#include "uvreap/reaper_options.hpp"

namespace uvreap::detail {

/// Why a sweep runs.
enum class sweep_kind {
  wake,         ///< SIGCHLD, a readable pidfd, or work owed (a continuation)
  resweep,      ///< the 10 ms timer after a failure or a parked pidfd
  safety_poll,  ///< options::poll_interval: also ask for each owned pid by number
};

/// What a policy's `collect` says about the rest of the sweep.
enum class sweep_result {
  done,     ///< nothing more is waiting (as far as this policy can tell)
  more,     ///< the budget ran out, or a whole-table step must wait for a fresh sweep:
            ///< sweep again on the next loop iteration
  resweep,  ///< a syscall failed, or a pidfd was parked: sweep again on the 10 ms timer
};

/// Where a policy reports a failure no caller can be told about.
class error_sink {
 public:
  virtual void report(int neg_errno, std::string_view what) noexcept = 0;

 protected:
  ~error_sink() = default;
};

/// What one `collect` call may use. The table is read-only: children leave it in the
/// core, after `collect` returns, and only there.
struct sweep_context {
  const child_table& table;
  os_calls& os;
  std::vector<reaped>& out;  ///< append what was reaped, in order; starts empty
  std::size_t budget;        ///< at most this many appends (room is reserved)
  sweep_kind kind;
  error_sink& errors;
  uvreap::stats& counters;  ///< fast_path_hits, fallback_scans, pidfd_not_reapable
  /// Children registered on other threads, not all in the table yet (null: none).
  registrations* coming = nullptr;
  /// Set by a policy that stopped at a child `coming` said may be on its way: the core
  /// sweeps again when the inbox wakes it.
  bool deferred = false;
};

/// A new child's place in the policy: its pidfd, or -1.
struct adoption {
  int pidfd = -1;
  bool look_now = false;  ///< the core must sweep on the next iteration (its exit may be past)
};

/// How a reaper finds exited children: one per policy (own, all, pidfd). It asks the
/// kernel and reports what it reaped; it never touches the batch, callbacks, timers,
/// handles or the thread inbox.
///
/// A rule that keeps `collect` honest without removing anything from the table: a step
/// over the whole table (a scan by pid, "every child was taken") runs only at the start
/// of a `collect`, before anything was reaped in it. A policy that reaped something and
/// then needs such a step returns `more`, and the next sweep starts with it; otherwise the
/// step would meet children that were reaped a moment ago and are still in the table.
class exit_source {
 public:
  virtual ~exit_source() = default;

  /// The policy in effect (pidfd on a kernel without it runs as own).
  [[nodiscard]] virtual policy kind() const noexcept = 0;
  /// Reaps what has exited, within `ctx.budget`.
  virtual sweep_result collect(sweep_context& ctx) noexcept = 0;
  /// Room for one more child, so that `adopted` cannot fail (throws std::bad_alloc).
  virtual void reserve_one() {}
  /// Whether a spawned child's pidfd from clone (CLONE_PIDFD) is of use to it.
  [[nodiscard]] virtual bool wants_birth_pidfd() const noexcept { return false; }
  /// A child entered the table; `pidfd` is its pidfd from clone, or -1 (the policy
  /// owns it from here: it is given only when `wants_birth_pidfd`).
  virtual adoption adopted(pid_t pid, int pidfd, os_calls& os) noexcept;
  /// A child left the table (reaped, or the reaper closed).
  virtual void released(pid_t pid, int pidfd, os_calls& os, error_sink& errors) noexcept;
  /// Whether SIGCHLD must be watched now (policy pidfd: only for children without a pidfd).
  [[nodiscard]] virtual bool wants_sigchld() const noexcept { return true; }
  /// An fd whose readability means "sweep" (policy pidfd's epoll set), or -1.
  [[nodiscard]] virtual int poll_fd() const noexcept { return -1; }
  /// Whether it reaps children nobody registered (policy all): then a child made on
  /// another thread must be queued before the loop thread can meet its exit.
  [[nodiscard]] virtual bool reaps_unregistered() const noexcept { return false; }
  /// The reaper closes: give back what the policy holds (claims, process settings, fds).
  virtual void close(os_calls& os, error_sink& errors) noexcept;
  /// Every libuv handle of the reaper is closed, so `poll_fd` is watched no more: close
  /// it now rather than when the reaper object goes (a closed reaper that a garbage
  /// collector frees late must not hold an fd until then).
  virtual void release_poll_fd() noexcept {}
};

/// Starts the policy asked for. Errors: EBUSY (a second `all`), what its syscalls
/// reported. `pidfd` on a kernel without pidfd_open (ENOSYS) starts `own` instead.
std::unique_ptr<exit_source> start_policy(const options& opts, os_calls& os, error_sink& errors,
                                          std::error_code& ec) noexcept;

std::unique_ptr<exit_source> start_own_policy(std::error_code& ec) noexcept;
std::unique_ptr<exit_source> start_all_policy(const options& opts, os_calls& os,
                                              std::error_code& ec) noexcept;
std::unique_ptr<exit_source> start_pidfd_policy(const options& opts, os_calls& os,
                                                std::error_code& ec) noexcept;

/// Reaps each of the table's pids that has exited, by number (`reap_by_pid`), from
/// entry `first` on, within the budget: the fallback of policies own and all, and how a
/// safety poll notices a child that someone else reaped. Returns `more` when the budget
/// ran out, `resweep` on a failure (reported), else `done`.
sweep_result scan_by_pid(sweep_context& ctx) noexcept;

/// ECHILD from a wait for any child: the process has no child at all, yet the table
/// holds some, so someone else took their statuses (a foreign waitpid(-1), SIGCHLD set to
/// SIG_IGN). Lists each as lost, within the budget (a whole-table step: `more` when the
/// collect had reaped something already, or when the budget runs out).
sweep_result all_were_taken(sweep_context& ctx) noexcept;

}  // namespace uvreap::detail
