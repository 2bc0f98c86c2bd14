// SPDX-License-Identifier: MIT
// uvreap (private): children spawned or watched on other threads, on their way to the
// loop thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "async_start.hpp"
#include "errno_code.hpp"
#include "registrations.hpp"
#include "terminal.hpp"
#include "tree.hpp"
#include "uvreap/exit_status.hpp"
#include "uvreap/reaper_options.hpp"  // uvreap::exit_callback
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"

namespace uvreap::detail {

/// A mutex-guarded queue from any thread to the loop thread, and the protocol by which
/// a child made on another thread reaches the loop thread's table.
///
/// Other threads submit a child (made or checked on their own thread); the loop thread
/// takes everything queued at once and registers it. `wake` is called under the lock
/// after each submission (the reaper sends its `uv_async_t` there: under the lock, close
/// cannot have closed the handle yet). After `shut`, submissions fail with ESTALE.
///
/// Syscalls made on the submitting threads are counted here and handed to the loop
/// thread with the items, so that the reaper's stats, which only the loop thread
/// touches, still count every call.
///
/// ## A registration on its way
///
/// A spawn on another thread makes its child there, so for a while the child exists,
/// and may have exited, while the table does not know its pid. Each registration moves
/// through three states, every change under the inbox lock (the child's birth and exit
/// aside):
///
/// 1. *In flight*: `submit_spawn` took a ticket, numbered in order, before making the
///    child. The child may exist, may be a zombie; only its thread knows its pid.
/// 2. *Queued*: the item is in the queue with its pid, and in the same critical section
///    the ticket is returned and the loop woken. A spawn that fails returns its ticket
///    and wakes the loop too. (A `watch` starts here.)
/// 3. *Drained*: the loop thread took it (`take_all`) and registers it.
///
/// What the loop thread may meet:
/// - Policies `own` and `pidfd` reap only pids in the table, so a child in state 1 or 2
///   is never reaped: its exit is neither delivered before its registration nor lost
///   (registering sweeps again, and finds the zombie). But `own`'s peek returns only the
///   oldest waitable child, and meeting one not in the table would send the sweep down
///   the slow path, a wait4 per owned pid. `may_be_coming(pid)` says whether to stop
///   and wait instead: true iff `pid` is queued, or a spawn is in flight whose ticket is
///   within the *horizon*, the last ticket issued when the loop first asked about `pid`.
///   - Sound: a child in state 1 was made after its thread took its ticket under the
///     lock, so before the peek that saw it, so before the first question, whose
///     critical section follows: its ticket is within the horizon. A child in state 2 is
///     queued. So for a registration on its way the answer is true, and the stopped
///     sweep is resumed by the wake-up of its queueing.
///   - Bounded: for a pid that is not coming (a foreign zombie) the answer turns false
///     once the spawns in flight at the first question have queued or failed; later
///     spawns have later tickets. At most one wait per such spawn, no constant to tune.
/// - Policy `all` reaps any child, so a child in state 1 could be reaped before anyone
///   knows it. There `submit_spawn(hold_lock = true)` keeps the lock from before the
///   ticket until the item is queued, and `submit_watch(peek_under_lock = true)` checks
///   the child under the lock; the loop thread takes the lock (`take_all`) before it
///   calls an exit nobody's, so it either finds the child queued or the submitting
///   thread finds it gone.
///
/// test/thread_inbox_test.cpp drives these steps through every interleaving of two
/// spawning threads and the loop thread's sweeps, with a scripted scheduler.
class thread_inbox final : public registrations {
 public:
  struct item {
    pid_t pid = 0;
    exit_callback callback;
    std::optional<uvreap::deadline> time_limit;
    std::chrono::steady_clock::time_point made{};  ///< when the child was spawned
    bool watched = false;  ///< `watch` (a duplicate is an error), not `spawn`
    /// A `spawn_async`: its plan (the pipes to open on the loop thread) and `on_started`.
    std::unique_ptr<start_job> start;
    /// With `start` and no pid: why the child could not start.
    std::error_code start_error;
    /// What holds the child's tree (null: tree::none).
    std::unique_ptr<tree_birth> tree;
    /// The child's pty (null: no terminal).
    std::unique_ptr<terminal_hold> terminal;
    /// What confines it (sandbox.hpp's pack).
    std::uint16_t sandbox = 0;
  };
  using wake_fn = void (*)(void* arg) noexcept;

  thread_inbox(wake_fn wake, void* arg) noexcept : wake_(wake), wake_arg_(arg) {}

  /// Makes a child with `make(calls)` (the pid, or -errno) and queues it as `it` (moved
  /// from only then; `it.made` is set to now unless given). With `hold_lock` the inbox
  /// stays locked across `make`. If the child exists but cannot be queued (shut
  /// meanwhile: ESTALE; out of memory: ENOMEM), `discard(pid, calls)` must leave no child
  /// behind. Returns the pid, or -1 with `ec` set.
  template <class Make, class Discard>
  pid_t submit_spawn(item&& it, bool hold_lock, Make&& make, Discard&& discard,
                     std::error_code& ec) noexcept;

  /// Queues a `spawn_async` that could not start (`it.start`, `it.start_error`, no pid)
  /// so that the loop thread reports it. False, dropping it, once shut.
  bool submit_failed(item&& it) noexcept;

  /// Checks `pid` with `peek(calls)` (0, or -errno) and queues it as `it` for a watch.
  /// EBUSY when it is queued already.
  template <class Peek>
  void submit_watch(item it, bool peek_under_lock, Peek&& peek, std::error_code& ec) noexcept;

  /// Cheap, from the loop thread: is anything queued?
  [[nodiscard]] bool has_work() const noexcept { return nonempty_.load(std::memory_order_acquire); }

  /// Loop thread, for a waitable child missing from the table: true while it may be a
  /// registration on its way (see above); a wake-up of the loop then follows.
  [[nodiscard]] bool may_be_coming(pid_t pid) noexcept override;

  /// Spawns between taking their ticket and returning it (for tests).
  [[nodiscard]] std::size_t in_flight() noexcept;

  /// Loop thread: moves everything queued into `out`, which must be empty (in
  /// submission order; a swap, so nothing allocates), and adds the submitting threads'
  /// syscalls to `calls`.
  void take_all(std::vector<item>& out, stats::syscall_counts& calls) noexcept;

  /// Later submissions fail with ESTALE. Idempotent.
  void shut() noexcept;

  /// Syscalls made on a submitting thread outside a submission (a spawn's stdio set-up),
  /// handed to the loop thread with the next `take_all`.
  void count(const stats::syscall_counts& c) noexcept;

  /// Runs `f` while no submission can call `wake` (the reaper replaces the handle that
  /// `wake` signals). A mutex that cannot lock runs it unlocked: it is unusable, so no
  /// submission gets far enough to wake.
  template <class F>
  void while_locked(F&& f) noexcept {
    std::unique_lock lock(mu_, std::defer_lock);
    try {
      lock.lock();
    } catch (const std::system_error&) {
    }
    f();
  }

 private:
  void add(const stats::syscall_counts& c) noexcept;
  std::uint64_t take_ticket_locked();  // throws std::bad_alloc
  void return_ticket_locked(std::uint64_t t) noexcept;

  wake_fn wake_;
  void* wake_arg_;
  std::mutex mu_;
  std::atomic<bool> nonempty_{false};
  bool open_ = true;               // guarded by mu_
  std::vector<item> items_;        // guarded by mu_
  stats::syscall_counts calls_{};  // guarded by mu_
  // The protocol's state, guarded by mu_: tickets of the spawns in flight (ascending: they
  // are taken in order under the lock), the next ticket, and the pid last asked about
  // with its horizon.
  std::vector<std::uint64_t> in_flight_;
  std::uint64_t next_ticket_ = 1;
  pid_t asked_ = 0;
  std::uint64_t horizon_ = 0;
};

template <class Make, class Discard>
pid_t thread_inbox::submit_spawn(item&& it, bool hold_lock, Make&& make, Discard&& discard,
                                 std::error_code& ec) noexcept {
  stats::syscall_counts calls{};
  std::unique_lock lock(mu_, std::defer_lock);
  pid_t pid = -1;
  // A ticket taken is returned, with a wake-up, on every way out (state 1 ends). The
  // guard is destroyed before `lock`, so it runs with the lock held wherever it is.
  struct in_flight_ticket {
    thread_inbox& in;
    std::unique_lock<std::mutex>& lock;
    std::uint64_t ticket = 0;
    ~in_flight_ticket() {
      if (ticket == 0) return;
      if (!lock.owns_lock()) {
        try {
          lock.lock();
        } catch (const std::system_error&) {
          return;  // a mutex that cannot lock: nobody can ask about tickets any more
        }
      }
      in.return_ticket_locked(ticket);
      in.wake_(in.wake_arg_);
    }
  } guard{*this, lock};
  try {
    lock.lock();
    if (!open_) {
      ec = errno_code(ESTALE);
      return -1;
    }
    items_.reserve(items_.size() + 1);
    guard.ticket = take_ticket_locked();
    if (!hold_lock) lock.unlock();
    pid = make(calls);
    if (!hold_lock) lock.lock();
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return -1;
  } catch (const std::system_error& e) {  // a mutex that cannot lock
    ec = e.code();
    if (pid > 0) discard(pid, calls);
    return -1;
  }
  if (pid < 0) {
    add(calls);
    ec = errno_code(-pid);
    return -1;
  }
  it.pid = pid;
  if (it.made == std::chrono::steady_clock::time_point{}) it.made = std::chrono::steady_clock::now();
  ec = open_ ? std::error_code{} : errno_code(ESTALE);  // shut while we spawned
  if (!ec) {
    try {
      items_.push_back(std::move(it));  // reserved above, unless other threads used it up
    } catch (const std::bad_alloc&) {
      ec = errno_code(ENOMEM);
    }
  }
  if (ec) {
    // Nobody will ever reap it: no reaper takes a pid that was never registered.
    // Honour "an error means no callback and no zombie" here, on the calling thread.
    it.pid = 0;
    discard(pid, calls);
    add(calls);
    return -1;
  }
  add(calls);
  nonempty_.store(true, std::memory_order_release);
  return pid;  // the guard wakes the loop
}

template <class Peek>
void thread_inbox::submit_watch(item it, bool peek_under_lock, Peek&& peek,
                                std::error_code& ec) noexcept {
  stats::syscall_counts calls{};
  int r = peek_under_lock ? 0 : peek(calls);
  try {
    std::lock_guard lock(mu_);
    if (peek_under_lock) r = peek(calls);
    add(calls);
    if (r < 0) {
      ec = errno_code(-r);
      return;
    }
    if (!open_) {
      ec = errno_code(ESTALE);
      return;
    }
    for (const auto& q : items_) {
      if (q.pid == it.pid) {
        ec = errno_code(EBUSY);
        return;
      }
    }
    it.watched = true;
    items_.push_back(std::move(it));
    nonempty_.store(true, std::memory_order_release);
    wake_(wake_arg_);
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
  } catch (const std::system_error& e) {
    ec = e.code();
  }
}

}  // namespace uvreap::detail
