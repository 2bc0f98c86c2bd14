// SPDX-License-Identifier: MIT
// uvreap (private): the core's libuv handles — made at start, hidden from uv_walk while a
// close waits for children, and made anew when the application closed them (a shutdown
// that closes every handle uv_walk shows it).
#include <type_traits>

#include "core.hpp"
#include "errno_code.hpp"

namespace uvreap::detail {

int core::init_handles() noexcept {
  int r = uv_signal_init(loop_, sigchld_.get());
  if (r == 0) r = uv_idle_init(loop_, continuation_.get());
  if (r == 0) r = uv_timer_init(loop_, resweep_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, poll_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, safety_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, deadline_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, grace_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, terminal_timer_.get());
  if (r == 0) r = uv_async_init(loop_, inbox_async_.get(), on_inbox);
  if (r == 0 && policy_->poll_fd() >= 0) {
    r = uv_poll_init(loop_, pidfd_poll_.get(), policy_->poll_fd());
  }
  for_each_handle([this](auto& h) { h.owned_by(this); });
  // Owned children keep the loop alive through the main handle (update_ref), a pending
  // continuation and a terminating close through theirs; the others never do.
  sigchld_.keeps_loop_alive(false);
  pidfd_poll_.keeps_loop_alive(false);
  resweep_timer_.keeps_loop_alive(false);
  poll_timer_.keeps_loop_alive(false);
  safety_timer_.keeps_loop_alive(false);
  deadline_timer_.keeps_loop_alive(false);
  inbox_async_.keeps_loop_alive(false);
  terminal_timer_.keeps_loop_alive(false);  // the reader's own handle keeps the loop going
  if (state_ == state::closing) hide_handles(true);
  if (r == 0 && pidfd_poll_.initialised()) {
    // No SIGCHLD: the epoll set of pidfds is the source (the signal watcher starts only
    // while some child has no pidfd).
    r = uv_poll_start(pidfd_poll_.get(), UV_READABLE, on_pidfd_ready);
  }
  if (r == 0 && policy_->wants_sigchld()) {
    r = uv_signal_start(sigchld_.get(), on_sigchld, SIGCHLD);
    // Children may have exited before the watcher started, and their SIGCHLD is gone:
    // look once on the first loop iteration (never from inside the constructor). A
    // scheduled continuation is work owed, so it keeps the loop alive for that one.
    if (r == 0) schedule_continuation();
  }
  return r;
}

void core::hide_handles(bool yes) noexcept {
  for_each_handle([yes](auto& h) { h.hide_from_walk(yes); });
}

std::error_code core::ensure_handles() noexcept {
  bool taken = false;
  for_each_handle([&](auto& h) { taken = taken || h.taken(); });
  if (!taken) return {};
  // Fresh memory for all of them first, so that a failure changes nothing (and the next
  // call tries again).
  bool allocated = true;
  for_each_handle([&](auto& h) { allocated = allocated && h.reserve_fresh(); });
  if (!allocated) {
    report(-ENOMEM, "new handles for the ones the application closed");
    return errno_code(ENOMEM);
  }
  ++stats_.handles_renewed;
  int r = 0;
  // Other threads' spawn and watch signal inbox_async_ under the inbox lock: it is
  // replaced and initialised under the same lock.
  inbox_.while_locked([&] {
    for_each_handle([this](auto& h) {
      // One the application left open is closed here; no callback of ours is owed for it.
      if (h.initialised()) (void)h.close(nullptr);
      auto previous = h.swap_in_fresh();
      if (!previous) return;
      try {
        retired_.emplace_back(std::move(previous));
      } catch (...) {
        (void)previous.release();  // libuv may still touch it: kept for good
      }
    });
    r = init_handles();
  });
  if (r != 0) {
    // libuv's inits fail only while setting up what the loop shares (its signal pipe, its
    // async fd), which succeeded at start: not expected, and then the reaper closes.
    report(r, "libuv handle init");
    state_ = state::closing;
    finish_close();
    return errno_code(-r);
  }
  // What the closed handles were waiting for is looked at again: exits (the sweep also
  // drains the inbox, whose wake-up may have gone to the closed async) and time limits.
  schedule_continuation();
  restart_deadline_timer();
  if (!ending_terminals_.empty()) {
    terminal_wait_ms_ = 0;
    start_timer(terminal_timer_.get(), on_terminal_timer, 0);
  }
  update_ref();
  return {};
}

}  // namespace uvreap::detail
