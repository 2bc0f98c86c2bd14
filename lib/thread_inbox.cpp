// SPDX-License-Identifier: MIT
// uvreap (private): children from other threads, on their way to the loop thread.
#include "thread_inbox.hpp"

namespace uvreap::detail {

void thread_inbox::add(const stats::syscall_counts& c) noexcept {
  // Called with mu_ held.
  calls_ += c;
}

void thread_inbox::take_all(std::vector<item>& out, stats::syscall_counts& calls) noexcept {
  try {
    std::lock_guard lock(mu_);
    out.swap(items_);
    nonempty_.store(false, std::memory_order_relaxed);
    calls += calls_;
    calls_ = {};
  } catch (const std::system_error&) {
    // A mutex that cannot lock: nothing was taken; has_work() stays true, so the next
    // sweep tries again.
  }
}

std::uint64_t thread_inbox::take_ticket_locked() {
  in_flight_.push_back(next_ticket_);  // ascending: taken in order under the lock
  return next_ticket_++;
}

void thread_inbox::return_ticket_locked(std::uint64_t t) noexcept {
  for (auto i = in_flight_.begin(); i != in_flight_.end(); ++i) {
    if (*i == t) {
      in_flight_.erase(i);  // keeps the order
      return;
    }
  }
}

bool thread_inbox::may_be_coming(pid_t pid) noexcept {
  try {
    std::lock_guard lock(mu_);
    if (pid != asked_) {
      // The first question about this pid: any spawn that made it took its ticket before
      // the child existed, so at most the last ticket issued now.
      asked_ = pid;
      horizon_ = next_ticket_ - 1;
    }
    for (const item& q : items_) {
      if (q.pid == pid) return true;  // queued: its wake-up is on its way
    }
    return !in_flight_.empty() && in_flight_.front() <= horizon_;
  } catch (const std::system_error&) {
    return false;  // a mutex that cannot lock: nothing can be queued any more
  }
}

std::size_t thread_inbox::in_flight() noexcept {
  try {
    std::lock_guard lock(mu_);
    return in_flight_.size();
  } catch (const std::system_error&) {
    return 0;
  }
}

void thread_inbox::count(const stats::syscall_counts& c) noexcept {
  try {
    std::lock_guard lock(mu_);
    add(c);
  } catch (const std::system_error&) {
    // A mutex that cannot lock: the counts are lost, nothing else is.
  }
}

bool thread_inbox::submit_failed(item&& it) noexcept {
  try {
    std::lock_guard lock(mu_);
    if (!open_) return false;
    it.pid = 0;
    items_.push_back(std::move(it));
    nonempty_.store(true, std::memory_order_release);
    wake_(wake_arg_);
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  } catch (const std::system_error&) {
    return false;
  }
}

void thread_inbox::shut() noexcept {
  try {
    std::lock_guard lock(mu_);
    open_ = false;
  } catch (const std::system_error&) {
    open_ = false;  // a mutex that cannot lock here is already unusable
  }
}

}  // namespace uvreap::detail
