// SPDX-License-Identifier: MIT
// uvreap (private): the core's close state machine — open, closing (a terminating close
// waits for its children), closed (every handle released, then on_closed).
#include <algorithm>
#include <unistd.h>

#include <csignal>

#include "core.hpp"

namespace uvreap::detail {

bool core::close(const close_options& how, std::function<void()> on_closed) noexcept {
  if (state_ != state::open) return false;
  // The inbox shuts (later calls from other threads get ESTALE); what it holds becomes
  // ordinary children, terminated or left running like the others.
  inbox_.shut();
  // spawn_async: the start being made finishes (its child is then discarded, killed and
  // reaped on the starter's thread), queued ones never start. After this, no thread of
  // ours touches the reaper.
  starter_.shut_and_join();
  state_ = state::closing;
  on_closed_ = std::move(on_closed);
  cancel_runs();  // no run callback after close: their pipes close now
  // While the close waits for its children, a shutdown's uv_walk passes over our handles
  // as it does over libuv's own: closing them would leave the children unreaped and this
  // close without its callback. Handles the application closed before are made anew.
  hide_handles(true);
  if (std::error_code ec = ensure_handles(); ec) {
    if (state_ == state::closed) return true;  // it could not init them and closed
    // Out of memory for new handles: nothing can wait for the children any more.
    if (how.terminate) signal_unreaped(SIGKILL);
    finish_close();
    return true;
  }
  drain_inbox();
  abandon_starts();
  policy_->close(os_, *this);  // the `all` claim and the subreaper flag go back now
  if (how.terminate && !table_.empty()) signal_unreaped(how.signal);
  if ((how.terminate && !table_.empty()) || !draining_.empty()) {
    // Trees whose child has exited are killed already: the close waits for them to empty
    // (so that their cgroups are removed), whatever the close options.
    // The grace is counted from this call, whatever the loop did earlier in its iteration.
    if (how.terminate && !table_.empty()) {
      start_timer(grace_timer_.get(), on_grace,
                  static_cast<std::uint64_t>(std::max<std::int64_t>(how.grace.count(), 0)));
    }
    // Some may be zombies already, whose SIGCHLD was consumed earlier.
    schedule_continuation();
    update_ref();
    return true;
  }
  finish_close();
  return true;
}

void core::finish_close() noexcept {
  state_ = state::closed;
  while (!table_.empty())
    take_child(table_.at(table_.size() - 1).pid, nullptr);
  deadlines_.clear();
  drained_.clear();
  // Their slave copies are closed: a stream not read to the end by now may end early.
  ending_terminals_.clear();
  close_trees();
  if (policy_) policy_->close(os_, *this);
  // A handle whose init never ran (or failed) has no loop and owes no close callback;
  // one the application closed owes none either, but libuv may still touch it.
  bool taken = !retired_.empty();
  for_each_handle([&](auto& h) {
    if (h.close(on_handle_closed)) {
      ++closing_handles_;
    } else {
      taken = taken || h.taken();
    }
  });
  hop_owed_ = taken;
  if (closing_handles_ == 0) {
    // Nothing of ours is closing to tell when libuv is done with the taken ones: two
    // hops (the first may share their closing pass).
    if (hop_owed_) {
      start_hops(2);
    } else {
      all_handles_closed();  // a start that initialised none
    }
  }
}

void core::on_handle_closed(uv_handle_t* h) {
  auto* self = static_cast<core*>(h->data);
  if (--self->closing_handles_ != 0) return;
  // A handle the application closed was closed before ours, so libuv finishes it in this
  // closing pass or an earlier one; a hop closed from here comes back after the pass.
  if (self->hop_owed_) {
    self->start_hops(1);
  } else {
    self->all_handles_closed();
  }
}

void core::start_hops(int n) noexcept {
  // libuv runs the close callbacks of one closing pass in a row; a handle closed from one
  // of them waits for the next pass. The hop is a handle closed at once, n times over,
  // on memory reserved at start (libuv is done with it once its callback runs).
  hops_left_ = n;
  *hop_ = uv_idle_t{};
  (void)uv_idle_init(loop_, hop_.get());  // cannot fail
  hop_->data = this;
  uv_close(reinterpret_cast<uv_handle_t*>(hop_.get()), on_hop_closed);
}

void core::on_hop_closed(uv_handle_t* h) {
  auto* self = static_cast<core*>(h->data);
  if (--self->hops_left_ > 0) {
    self->start_hops(self->hops_left_);
    return;
  }
  self->retired_.clear();  // every pass that could touch them is over
  self->all_handles_closed();
}

void core::all_handles_closed() noexcept {
  // Dropping self_ may destroy *this: take it first and touch no member afterwards.
  std::shared_ptr<core> keep = std::move(self_);
  if (policy_) policy_->release_poll_fd();
  if (inotify_fd_ >= 0) (void)::close(inotify_fd_);  // its uv_poll_t is closed
  inotify_fd_ = -1;
  std::function<void()> cb = std::move(on_closed_);
  if (cb) {
    try {
      cb();
    } catch (...) {
      ++stats_.callback_exceptions;
      report_exception(std::current_exception(), 0);
    }
  }
}

void core::signal_unreaped(int sig) noexcept {
  // While closing: a child whose exit is already waiting is reaped (its record dropped,
  // as every record is after close) instead of signalled, and counted in
  // stats::signals_skipped. A reaped child leaves the table (reap_now → release →
  // take_child), and child_table::take fills slot i with its last entry, one not visited
  // yet: so i stays where it is after a reap.
  for (std::size_t i = 0; i < table_.size();) {
    const pid_t pid = table_.at(i).pid;
    if (reap_now(pid) == reap_outcome::reaped) {
      ++stats_.signals_skipped;
      if (batch_.size() >= opts_.max_batch) dispatch();  // drops them: we are closing
      continue;
    }
    // ESRCH cannot happen for an unreaped child (a zombie accepts signals); any error is
    // reported and the grace period's SIGKILL or the child's own exit still ends it. A
    // child with a tree: the whole tree.
    const child_table::entry& e = table_.at(i);
    if (int r = e.tree ? signal_tree(pid, *e.tree, sig) : os_.kill(pid, sig); r < 0 && r != -ESRCH) {
      report(r, "kill");
    }
    ++i;
  }
  dispatch();
}

}  // namespace uvreap::detail
