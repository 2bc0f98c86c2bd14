// SPDX-License-Identifier: MIT
// uvreap (private): the end of a terminal child's stream. The reaper holds a copy of the
// pty's slave (terminal.hpp says why); once the child's exit is delivered, the copy is
// closed as soon as its master has been read to the end, so that the reader's next read
// fails with EIO — the end of the stream, after the last byte.
#include <algorithm>
#include <new>

#include "core.hpp"

namespace uvreap::detail {

namespace {
constexpr std::uint64_t kFirstLookMs = 1;
constexpr std::uint64_t kLongestWaitMs = 100;
}  // namespace

void core::end_terminal(std::unique_ptr<terminal_hold> t) noexcept {
  // Read to the end already (the usual case for a reader keeping up), or its handle is
  // closed: the copy goes now.
  if (state_ != state::open || !t->unread()) return;
  try {
    ending_terminals_.push_back(std::move(t));
  } catch (const std::bad_alloc&) {
    report(-ENOMEM, "keeping a terminal until it is read to the end");
    return;  // closed now: the stream may end before its last bytes
  }
  if (!terminal_timer_.active()) {
    terminal_wait_ms_ = kFirstLookMs;
    start_timer(terminal_timer_.get(), on_terminal_timer, terminal_wait_ms_);
  }
}

void core::on_terminal_timer(uv_timer_t* h) {
  auto* self = enter(h->data);
  auto& ending = self->ending_terminals_;
  ending.erase(std::remove_if(ending.begin(), ending.end(),
                              [](const std::unique_ptr<terminal_hold>& t) { return !t->unread(); }),
               ending.end());
  if (ending.empty()) return;
  // A reader that is slow or paused is looked at less and less often.
  self->terminal_wait_ms_ = std::min(kLongestWaitMs, std::max<std::uint64_t>(1, self->terminal_wait_ms_ * 2));
  self->start_timer(h, on_terminal_timer, self->terminal_wait_ms_);
}

}  // namespace uvreap::detail
