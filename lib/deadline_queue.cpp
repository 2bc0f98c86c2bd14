// SPDX-License-Identifier: MIT
// uvreap (private): pending time-limit steps in due order.
#include "deadline_queue.hpp"

#include <algorithm>
#include <csignal>

namespace uvreap::detail {

namespace {
bool later(const deadline_queue::step& a, const deadline_queue::step& b) noexcept {
  return a.due_ms > b.due_ms;
}
}  // namespace

void deadline_queue::reserve_one() {
  // A live limit has exactly one step queued (its SIGKILL step replaces the first), but
  // stale steps stay until no limit is live: room for all of them plus the new one.
  heap_.reserve(heap_.size() + 1);
}

std::uint32_t deadline_queue::arm(pid_t pid, std::uint64_t due_ms, int signal,
                                  std::uint64_t grace_ms, bool group) noexcept {
  if (++last_serial_ == 0) ++last_serial_;  // 0 means "no time limit" to the owner
  push(step{due_ms, pid, last_serial_, signal, grace_ms, group, signal == SIGKILL});
  ++live_;
  return last_serial_;
}

bool deadline_queue::pop_due(std::uint64_t now_ms, step& out) noexcept {
  if (heap_.empty() || heap_.front().due_ms > now_ms) return false;
  std::pop_heap(heap_.begin(), heap_.end(), later);
  out = heap_.back();
  heap_.pop_back();
  return true;
}

void deadline_queue::follow_with_kill(const step& fired, std::uint64_t now_ms) noexcept {
  // Takes the slot of the step just popped: no allocation.
  push(step{now_ms + fired.grace_ms, fired.pid, fired.serial, SIGKILL, 0, fired.group, true});
}

void deadline_queue::ended() noexcept {
  if (live_ > 0 && --live_ == 0) heap_.clear();
}

std::optional<std::uint64_t> deadline_queue::next_due() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().due_ms;
}

void deadline_queue::clear() noexcept {
  heap_.clear();
  live_ = 0;
}

void deadline_queue::push(const step& s) noexcept {
  heap_.push_back(s);  // room reserved by reserve_one (or freed by pop_due)
  std::push_heap(heap_.begin(), heap_.end(), later);
}

}  // namespace uvreap::detail
