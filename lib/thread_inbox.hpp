// SPDX-License-Identifier: MIT
// uvreap (private): children spawned or watched on other threads, on their way to the
// loop thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "errno_code.hpp"
#include "uvreap/exit_status.hpp"
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"

namespace uvreap::detail {

/// A mutex-guarded queue from any thread to the loop thread.
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
/// Two lock-ordering rules live here, both for a reaper that takes children nobody
/// registered (policy `all`): `submit_spawn(hold_lock = true)` keeps the lock from
/// before the child exists until it is queued, and `submit_watch(peek_under_lock =
/// true)` checks the child under the lock. The loop thread takes the lock (`take_all`)
/// before it calls an exit nobody's, so it either finds the child queued or the
/// submitting thread finds it gone.
class thread_inbox {
 public:
  using exit_callback = std::function<void(const exit_status&)>;
  struct item {
    pid_t pid = 0;
    exit_callback callback;
    std::optional<uvreap::deadline> time_limit;
    std::chrono::steady_clock::time_point made{};  ///< when the child was spawned
    bool watched = false;  ///< `watch` (a duplicate is an error), not `spawn`
  };
  using wake_fn = void (*)(void* arg) noexcept;

  thread_inbox(wake_fn wake, void* arg) noexcept : wake_(wake), wake_arg_(arg) {}

  /// Makes a child with `make(calls)` (the pid, or -errno) and queues it as `it`. With
  /// `hold_lock` the inbox stays locked across `make`. If the child exists but cannot be
  /// queued (shut meanwhile: ESTALE; out of memory: ENOMEM), `discard(pid, calls)` must
  /// leave no child behind. Returns the pid, or -1 with `ec` set.
  template <class Make, class Discard>
  pid_t submit_spawn(item it, bool hold_lock, Make&& make, Discard&& discard,
                     std::error_code& ec) noexcept;

  /// Checks `pid` with `peek(calls)` (0, or -errno) and queues it as `it` for a watch.
  /// EBUSY when it is queued already.
  template <class Peek>
  void submit_watch(item it, bool peek_under_lock, Peek&& peek, std::error_code& ec) noexcept;

  /// Cheap, from the loop thread: is anything queued?
  [[nodiscard]] bool has_work() const noexcept { return nonempty_.load(std::memory_order_acquire); }

  /// Cheap, from the loop thread: is a spawn on another thread between making its child
  /// and queueing it? (Its wake-up follows, whether it queues the child or not.)
  [[nodiscard]] bool spawning() const noexcept {
    return spawning_.load(std::memory_order_acquire) > 0;
  }

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
  void queue_locked(item&& it) noexcept;  // room reserved

  wake_fn wake_;
  void* wake_arg_;
  std::mutex mu_;
  std::atomic<bool> nonempty_{false};
  std::atomic<unsigned> spawning_{0};
  bool open_ = true;               // guarded by mu_
  std::vector<item> items_;        // guarded by mu_
  stats::syscall_counts calls_{};  // guarded by mu_
};

template <class Make, class Discard>
pid_t thread_inbox::submit_spawn(item it, bool hold_lock, Make&& make, Discard&& discard,
                                 std::error_code& ec) noexcept {
  stats::syscall_counts calls{};
  std::unique_lock lock(mu_, std::defer_lock);
  pid_t pid = -1;
  bool counted = false;  // in spawning_: undone, with a wake-up, on every way out
  struct done_spawning {
    thread_inbox& in;
    bool& counted;
    ~done_spawning() {
      if (!counted) return;
      in.spawning_.fetch_sub(1, std::memory_order_acq_rel);
      in.wake_(in.wake_arg_);
    }
  } guard{*this, counted};
  try {
    lock.lock();
    if (!open_) {
      ec = errno_code(ESTALE);
      return -1;
    }
    items_.reserve(items_.size() + 1);
    if (!hold_lock) lock.unlock();
    spawning_.fetch_add(1, std::memory_order_acq_rel);
    counted = true;
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
  it.made = std::chrono::steady_clock::now();
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
