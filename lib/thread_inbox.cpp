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

void thread_inbox::count(const stats::syscall_counts& c) noexcept {
  try {
    std::lock_guard lock(mu_);
    add(c);
  } catch (const std::system_error&) {
    // A mutex that cannot lock: the counts are lost, nothing else is.
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
