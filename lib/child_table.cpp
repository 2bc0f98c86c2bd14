// SPDX-License-Identifier: MIT
// uvreap (private): the pid table's open-addressing index.
#include "child_table.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace uvreap::detail {

namespace {
constexpr std::size_t kMinSlots = 16;
}  // namespace

child_table::child_table() {
  rehash(kMinSlots);
}

std::size_t child_table::home(pid_t pid) const noexcept {
  // Fibonacci hashing: consecutive pids (the common case) spread over the index.
  const auto h =
      static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(h >> 32) & mask_;
}

std::size_t child_table::locate(pid_t pid) const noexcept {
  for (std::size_t s = home(pid);; s = (s + 1) & mask_) {
    const std::uint32_t v = slots_[s];
    if (v == 0) return npos;
    if (items_[v - 1].pid == pid) return s;
  }
}

void child_table::rehash(std::size_t slot_count) {
  std::vector<std::uint32_t> fresh(slot_count, 0);
  slots_.swap(fresh);
  mask_ = slot_count - 1;
  for (std::size_t i = 0; i < items_.size(); ++i) {
    std::size_t s = home(items_[i].pid);
    while (slots_[s] != 0)
      s = (s + 1) & mask_;
    slots_[s] = static_cast<std::uint32_t>(i + 1);
  }
}

void child_table::reserve(std::size_t n) {
  // Keep the index at most half full so probe sequences stay short.
  if (n * 2 > slots_.size()) rehash(std::bit_ceil(n * 2));
  if (n > items_.capacity()) items_.reserve(std::max(n, items_.capacity() * 2));
}

bool child_table::insert(pid_t pid, exit_callback callback, int pidfd) {
  if (locate(pid) != npos) return false;
  reserve(items_.size() + 1);
  items_.push_back(
      entry{pid, std::move(callback), pidfd, 0, false, nullptr, nullptr, 0});  // cannot reallocate: reserved
  std::size_t s = home(pid);
  while (slots_[s] != 0)
    s = (s + 1) & mask_;
  slots_[s] = static_cast<std::uint32_t>(items_.size());
  return true;
}

child_table::entry* child_table::find(pid_t pid) noexcept {
  const std::size_t s = locate(pid);
  return s == npos ? nullptr : &items_[slots_[s] - 1];
}

const child_table::entry* child_table::find(pid_t pid) const noexcept {
  const std::size_t s = locate(pid);
  return s == npos ? nullptr : &items_[slots_[s] - 1];
}

void child_table::erase_slot(std::size_t hole) noexcept {
  // Backward-shift deletion: pull later members of the probe run into the hole unless
  // their home lies cyclically in (hole, j], where they must stay to remain findable.
  for (std::size_t j = (hole + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
    const std::size_t k = home(items_[slots_[j] - 1].pid);
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = 0;
}

exit_callback child_table::take_at(std::size_t i) noexcept {
  erase_slot(locate(items_[i].pid));
  exit_callback cb = std::move(items_[i].callback);
  const std::size_t last = items_.size() - 1;
  if (i != last) {
    // The moved-from last entry keeps its pid, so locate() still finds its slot.
    const std::size_t s = locate(items_[last].pid);
    items_[i] = std::move(items_[last]);
    slots_[s] = static_cast<std::uint32_t>(i + 1);
  }
  items_.pop_back();
  return cb;
}

exit_callback child_table::take(pid_t pid, entry* rest) noexcept {
  const std::size_t s = locate(pid);
  if (s == npos) return {};
  const std::size_t i = slots_[s] - 1;
  if (rest != nullptr) {
    entry& e = items_[i];
    rest->pid = e.pid;
    rest->pidfd = e.pidfd;
    rest->deadline_serial = e.deadline_serial;
    rest->deadline_fired = e.deadline_fired;
    rest->tree = std::move(e.tree);
    rest->terminal = std::move(e.terminal);
    rest->sandbox = e.sandbox;
  }
  return take_at(i);
}

void child_table::clear() noexcept {
  items_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
}

}  // namespace uvreap::detail
