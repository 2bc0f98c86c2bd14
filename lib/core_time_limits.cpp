// SPDX-License-Identifier: MIT
// uvreap (private): the core's time limits — armed from an up-to-date clock, and never
// signalling a child whose exit is already waiting.
#include <algorithm>
#include <csignal>

#include "core.hpp"

namespace uvreap::detail {

std::uint64_t core::clock_now() noexcept {
  // uv_now() is the time cached when the current loop iteration began; whatever ran
  // since (a callback that worked for a second, start-up code before uv_run) would
  // otherwise be taken off every limit and grace armed now. Every timer of ours is armed
  // through this or start_timer.
  if (seams_.clock) return seams_.clock();
  uv_update_time(loop_);
  return uv_now(loop_);
}

void core::start_timer(uv_timer_t* t, uv_timer_cb cb, std::uint64_t timeout_ms,
                       std::uint64_t repeat_ms) noexcept {
  uv_update_time(loop_);
  uv_timer_start(t, cb, timeout_ms, repeat_ms);
}

void core::arm_deadline(pid_t pid, const uvreap::deadline& d, std::uint64_t elapsed_ms) noexcept {
  auto* e = table_.find(pid);
  if (e == nullptr) return;
  const auto after = static_cast<std::uint64_t>(d.after.count());
  const std::uint64_t wait = after > elapsed_ms ? after - elapsed_ms : 0;
  // Room was reserved with the table entry (reserve_for_one).
  e->deadline_serial = deadlines_.arm(pid, clock_now() + wait, d.signal,
                                      static_cast<std::uint64_t>(d.grace.count()), d.process_group);
  restart_deadline_timer();
}

void core::run_deadlines() noexcept {
  const std::uint64_t now = clock_now();
  // Each due step reaps first and signals only what is still running, so batch_ bounds
  // how many steps one run takes; the rest are due again on the next iteration.
  deadline_queue::step step{};
  while (batch_.size() < opts_.max_batch && deadlines_.pop_due(now, step)) {
    auto* e = table_.find(step.pid);
    if (e == nullptr || e->deadline_serial != step.serial) continue;  // reaped meanwhile
    // libuv runs timers before it polls for I/O, so a child may have exited in time while
    // the loop thread was busy, its SIGCHLD byte or readable pidfd still unread. Such a
    // child is reaped here with its own status, never signalled and never flagged (the
    // step that is skipped is counted in stats::signals_skipped). Reaping by pid also
    // settles the race with an exit right after this check: the pid stays ours until it
    // is reaped, so a signal sent to a child that exits meanwhile reaches a zombie.
    if (reap_now(step.pid) == reap_outcome::reaped) {
      ++stats_.signals_skipped;
      continue;
    }
    const bool first = !e->deadline_fired;
    if (first) {
      e->deadline_fired = true;
      ++stats_.deadlines_fired;
    }
    const int sig = step.final && !first ? SIGKILL : step.signal;
    // The pid is unreaped (it is in the table), so it and its group id are still ours.
    // A child with a tree: the whole tree.
    const int r = e->tree ? signal_tree(step.pid, *e->tree, sig)
                          : os_.kill(step.group ? -step.pid : step.pid, sig);
    if (r < 0 && r != -ESRCH) report(r, "kill (time limit)");
    if (step.final) {
      e->deadline_serial = 0;
      deadlines_.ended();
    } else {
      deadlines_.follow_with_kill(step, now);
    }
  }
  restart_deadline_timer();
  // Children found exited above are delivered like a sweep's batch.
  dispatch();
  after_dispatch();
}

void core::restart_deadline_timer() noexcept {
  if (state_ == state::closed) return;
  const auto due = deadlines_.next_due();
  if (!due) {
    uv_timer_stop(deadline_timer_.get());
    return;
  }
  const std::uint64_t now = clock_now();
  uv_timer_start(deadline_timer_.get(), on_deadline, *due > now ? *due - now : 0, 0);
}

}  // namespace uvreap::detail
