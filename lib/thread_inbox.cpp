// SPDX-License-Identifier: MIT
// uvreap (private): children from other threads, on their way to the loop thread.
#include "thread_inbox.hpp"

namespace uvreap::detail {

void thread_inbox::add(const stats::syscall_counts& c) noexcept {
  // Called with mu_ held.
  calls_.spawn += c.spawn;
  calls_.waitid += c.waitid;
  calls_.kill += c.kill;
  calls_.wait4 += c.wait4;
  calls_.eintr += c.eintr;
}

void thread_inbox::take_all(std::vector<item>& out, stats::syscall_counts& calls) noexcept {
  try {
    std::lock_guard lock(mu_);
    out.swap(items_);
    nonempty_.store(false, std::memory_order_relaxed);
    calls.spawn += calls_.spawn;
    calls.waitid += calls_.waitid;
    calls.kill += calls_.kill;
    calls.wait4 += calls_.wait4;
    calls.eintr += calls_.eintr;
    calls_ = {};
  } catch (const std::system_error&) {
    // A mutex that cannot lock: nothing was taken; has_work() stays true, so the next
    // sweep tries again.
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
