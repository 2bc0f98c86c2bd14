// SPDX-License-Identifier: MIT
// uvreap (private): the reaper's core — the sweep spine, registration, time limits,
// close, and the boundary where user code is called.
#include "core.hpp"
#include "exit_status_builder.hpp"
#include "sandbox.hpp"

#include <algorithm>
#include <cstdio>
#include <new>

#include "errno_code.hpp"

namespace uvreap::detail {

namespace {

constexpr std::uint64_t kResweepDelayMs = 10;
constexpr std::chrono::milliseconds kAutoPollInterval{100};

const char* what_of(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "non-standard exception";
  }
}

}  // namespace

core::core(uv_loop_t* loop, options opts, core_seams seams) noexcept
    : loop_(loop),
      opts_(std::move(opts)),
      seams_(std::move(seams)),
      os_(opts_.os != nullptr ? *opts_.os : sys::os(), stats_.syscalls) {}

core::~core() = default;

policy core::effective_policy() const noexcept {
  return policy_ ? policy_->kind() : opts_.reap_policy;
}

// ---------------------------------------------------------------------------------------
// Start

std::error_code core::start(const std::shared_ptr<core>& self) noexcept {
  if (loop_ == nullptr || opts_.max_batch == 0 || opts_.poll_interval.count() < 0 ||
      opts_.safety_sweep.count() < 0 || opts_.start_threads > 256 ||
      (opts_.subreaper && opts_.reap_policy != policy::all)) {
    return errno_code(EINVAL);
  }

  // With SIGCHLD ignored (or SA_NOCLDWAIT) the kernel reaps children by itself and every
  // status would be lost; libuv's handler would also silently replace that disposition.
  // Refuse rather than take the process-wide setting away from whoever chose it.
  struct sigaction sa {};
  if (int r = os_.get_sigaction(SIGCHLD, &sa); r < 0) return errno_code(-r);
  const bool ignored = (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_IGN;
  if (ignored || (sa.sa_flags & SA_NOCLDWAIT) != 0) return errno_code(EBUSY);

  // SIGCHLD blocked here may mean blocked in every thread (sd-event asks its users to do
  // that): then no SIGCHLD would ever wake the loop. Poll instead of hanging silently.
  sigset_t mask;
  sigemptyset(&mask);
  if (int r = os_.get_sigmask(&mask); r < 0) return errno_code(-r);
  poll_every_ = opts_.poll_interval;
  if (poll_every_.count() == 0 && sigismember(&mask, SIGCHLD) == 1) poll_every_ = kAutoPollInterval;

  try {
    const std::size_t room = std::min<std::size_t>(opts_.max_batch, 1024);
    batch_.reserve(room);
    reaped_.reserve(room);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  // Memory for every handle and for the closing hop, before anything needs undoing.
  bool allocated = true;
  for_each_handle([&](auto& h) { allocated = allocated && h.reserve_fresh(); });
  hop_.reset(new (std::nothrow) uv_idle_t{});
  if (!allocated || !hop_) return errno_code(ENOMEM);
  for_each_handle([](auto& h) { (void)h.swap_in_fresh(); });  // nothing was there before

  std::error_code ec;
  if (seams_.policy) {
    policy_ = seams_.policy();
    if (!policy_) return errno_code(EINVAL);
  } else {
    policy_ = start_policy(opts_, os_, *this, ec);
    if (ec) return ec;
  }

  // From the first successful init on, the handles can only be released through
  // uv_close, so a failure takes the one unwind of close.
  self_ = self;
  if (int r = init_handles(); r != 0) {
    state_ = state::closing;
    finish_close();  // releases self_ once libuv has closed what was initialised
    return errno_code(-r);
  }
  update_ref();
  return {};
}

// ---------------------------------------------------------------------------------------
// libuv callbacks

core* core::enter(void* data) noexcept {
  // Every libuv callback of ours runs on the loop thread, by definition.
  auto* self = static_cast<core*>(data);
  self->loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  return self;
}

void core::on_sigchld(uv_signal_t* h, int /*signum*/) {
  auto* self = enter(h->data);
  // libuv calls this once per delivered signal, many times in a row after a storm. A
  // pending continuation already owes a sweep on the next iteration: sweeping again now
  // would run batch after batch inside one iteration and starve timers and sockets.
  if (self->continuation_.active()) {
    ++self->stats_.coalesced_signals;
    return;
  }
  self->sweep(sweep_kind::wake);
}

void core::on_continuation(uv_idle_t* h) {
  auto* self = enter(h->data);
  uv_idle_stop(h);
  self->sweep(sweep_kind::wake);
}

void core::on_resweep(uv_timer_t* h) {
  auto* self = enter(h->data);
  // A tree without an inotify watch is looked at here (core_trees.cpp).
  if (!self->draining_.empty()) {
    self->fired_wds_.clear();
    self->collect_drained(false);
  }
  self->sweep(sweep_kind::resweep);
}

void core::on_pidfd_ready(uv_poll_t* h, int /*status*/, int /*events*/) {
  enter(h->data)->sweep(sweep_kind::wake);
}

void core::on_poll_timer(uv_timer_t* h) {
  auto* self = enter(h->data);
  ++self->stats_.poll_sweeps;
  self->sweep(sweep_kind::safety_poll);
}

void core::on_safety_timer(uv_timer_t* h) {
  auto* self = enter(h->data);
  ++self->stats_.safety_sweeps;
  self->sweep(sweep_kind::wake);
}

void core::on_inbox(uv_async_t* h) {
  auto* self = enter(h->data);
  self->drain_inbox();
  if (!self->started_.empty()) self->dispatch();  // spawn_async outcomes
  if (self->sweep_after_inbox_) {
    // A sweep stopped at a child it did not know, expecting this wake-up.
    self->sweep_after_inbox_ = false;
    self->schedule_continuation();
  }
  self->after_dispatch();
}

void core::on_deadline(uv_timer_t* h) {
  enter(h->data)->run_deadlines();
}

void core::on_grace(uv_timer_t* h) {
  auto* self = enter(h->data);
  self->signal_unreaped(SIGKILL);
  self->after_dispatch();
}

void core::wake_loop(void* self) noexcept {
  uv_async_send(static_cast<core*>(self)->inbox_async_.get());
}

// ---------------------------------------------------------------------------------------
// The exit path: kernel -> reaped_ -> batch_ -> callbacks

void core::sweep(sweep_kind why) noexcept {
  if (state_ == state::closed) return;
  ++stats_.sweeps;
  if (inbox_.has_work() || !drained_.empty()) drain_inbox();
  reaped_.clear();
  const std::size_t budget = opts_.max_batch > batch_.size() ? opts_.max_batch - batch_.size() : 0;
  // A child registered on another thread may not be in the table yet: the inbox says
  // which unknown pid may be one (thread_inbox.hpp).
  sweep_context ctx{table_, os_, reaped_, budget, why, *this, stats_, &inbox_};
  const sweep_result result = policy_->collect(ctx);
  sweep_after_inbox_ = ctx.deferred;
  for (const reaped& r : reaped_)
    release(r);
  reaped_.clear();
  if (batch_.empty()) ++stats_.empty_sweeps;
  stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch_.size());
  if (result == sweep_result::more) {
    // A child that is already a zombie raises no new SIGCHLD: the rest of this sweep
    // must be scheduled by us, or it would wait for some unrelated exit.
    ++stats_.continuations;
    schedule_continuation();
  } else if (result == sweep_result::resweep) {
    schedule_resweep();
  }
  dispatch();
  after_dispatch();
}

void core::release(const reaped& r) noexcept {
  bool fired = false;
  std::unique_ptr<tree_birth> tree;
  std::unique_ptr<terminal_hold> terminal;
  std::uint16_t sandbox = 0;
  exit_callback cb = take_child(r.pid, &fired, &tree, &terminal, &sandbox);
  if (!cb && policy_->reaps_unregistered()) {
    // Another thread may have spawned it and not queued it yet: it holds the inbox lock
    // from before the spawn until the pid is queued, so draining settles it.
    drain_inbox();
    cb = take_child(r.pid, &fired, &tree, &terminal, &sandbox);
  }
  const bool orphan = !cb;
  exit_status st = detail::exit_status_builder::lost(r.pid);
  if (r.lost) {
    ++stats_.lost;
  } else {
    ++(orphan ? stats_.orphans_reaped : stats_.exits_reaped);
    st = exit_status::from_wait(r.pid, r.status, &r.usage);
  }
  if (sandbox != 0) st = exit_status_builder::with_sandbox(st, unpack(sandbox));
  pending p{exit_status_builder::with_deadline_fired(st, fired), std::move(cb), orphan,
            std::move(terminal)};
  // What the child started may still run: its exit waits for them (core_trees.cpp).
  if (tree && hold_for_tree(r.pid, r.lost, std::move(tree), p)) return;
  // Room: reserve_for_one keeps one slot per owned child, and the budget bounds a sweep.
  batch_.push_back(std::move(p));
}

void core::deliver_lost(pid_t pid) noexcept {
  release(reaped{pid, 0, {}, true});
}

exit_callback core::take_child(pid_t pid, bool* deadline_fired, std::unique_ptr<tree_birth>* tree,
                               std::unique_ptr<terminal_hold>* terminal,
                               std::uint16_t* sandbox) noexcept {
  // The one place where a child leaves the table.
  child_table::entry rest{};
  exit_callback cb = table_.take(pid, &rest);
  if (!cb) return cb;  // not ours: callbacks are never empty (EINVAL at the door)
  if (deadline_fired != nullptr) *deadline_fired = rest.deadline_fired;
  // Not asked for (close, an abandoned start): dropped, its slave copy closed.
  if (terminal != nullptr) *terminal = std::move(rest.terminal);
  if (sandbox != nullptr) *sandbox = rest.sandbox;
  if (rest.tree) {
    --live_trees_;
    // Not asked for (close, an abandoned start): dropped, its cgroup removed if empty.
    if (tree != nullptr) *tree = std::move(rest.tree);
  }
  if (rest.deadline_serial != 0) {
    // Once no limit is left the queue drops its stale steps, and the timer stops, so no
    // signal and no wake-up outlives them.
    deadlines_.ended();
    if (deadlines_.live() == 0) uv_timer_stop(deadline_timer_.get());
  }
  policy_->released(pid, rest.pidfd, os_, *this);
  if (rest.pidfd < 0 && pidfd_poll_.initialised()) update_sigchld_watch();
  return cb;
}

reap_outcome core::reap_now(pid_t pid) noexcept {
  // Outside a sweep (a time limit, close): reaped_ is free.
  reaped_.clear();
  int err = 0;
  const reap_outcome o = reap_by_pid(os_, pid, reaped_, &err);
  if (o == reap_outcome::reaped) {
    release(reaped_.back());
  } else if (o == reap_outcome::failed) {
    report(err, "wait4(pid, WNOHANG)");
    schedule_resweep();
  }
  reaped_.clear();
  return o;
}

void core::dispatch() noexcept {
  // spawn_async outcomes first: a child's on_started always comes before its exit
  // callback, which can be in this batch. Read by index, as a callback may add to it.
  for (std::size_t i = 0; i < started_.size(); ++i) {
    if (state_ != state::open) break;  // close() abandoned the rest
    started_note n = std::move(started_[i]);
    started_[i].pid = -1;  // delivered: close() has nothing to abandon here
    invoke_started(n);
  }
  if (state_ == state::open) started_.clear();
  // Reaping is finished before any callback runs, so a callback that spawns, watches,
  // kills or closes never sees a half-updated table. batch_.size() is read on every
  // turn: a callback's spawn may append a lost record for a recycled pid.
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    if (state_ != state::open) break;  // closed from a callback: no callback after close
    pending p = std::move(batch_[i]);
    if (p.orphan) {
      if (opts_.on_orphan) invoke(opts_.on_orphan, p.status);
    } else {
      invoke(p.callback, p.status);
    }
    if (p.terminal) end_terminal(std::move(p.terminal));
  }
  batch_.clear();
}

void core::after_dispatch() noexcept {
  if (state_ == state::closing && table_.empty() && draining_.empty()) {
    finish_close();
  } else {
    update_ref();
  }
}

// ---------------------------------------------------------------------------------------
// Scheduling and loop references

void core::schedule_continuation() noexcept {
  if (state_ == state::closed) return;
  if (!continuation_.active()) uv_idle_start(continuation_.get(), on_continuation);
}

void core::schedule_resweep() noexcept {
  if (state_ == state::closed) return;
  if (!resweep_timer_.active()) start_timer(resweep_timer_.get(), on_resweep, kResweepDelayMs);
}

void core::update_sigchld_watch() noexcept {
  if (state_ == state::closed) return;
  const bool want = policy_->wants_sigchld();
  if (want == sigchld_.active()) return;
  if (!want) {
    uv_signal_stop(sigchld_.get());
  } else if (int r = uv_signal_start(sigchld_.get(), on_sigchld, SIGCHLD); r != 0) {
    report(r, "uv_signal_start(SIGCHLD)");
    schedule_resweep();
  }
}

void core::update_ref() noexcept {
  if (state_ == state::closed) return;
  // uv_ref/uv_unref are idempotent flag flips; the loop counts each handle once.
  // A tree still draining holds its child's callback: it counts as a child here.
  const bool owed = !table_.empty() || !draining_.empty();
  if (pidfd_poll_.initialised()) {
    pidfd_poll_.keeps_loop_alive(owed);
  } else {
    sigchld_.keeps_loop_alive(owed);
  }
  // A spawn_async whose outcome is on its way keeps uv_run going until it arrives.
  inbox_async_.keeps_loop_alive(state_ == state::open &&
                                starts_pending_.load(std::memory_order_relaxed) > 0);
  if (poll_every_.count() > 0) {
    const bool want = state_ == state::open && (!table_.empty() || policy_->reaps_unregistered());
    if (want && !poll_timer_.active()) {
      const auto ms = static_cast<std::uint64_t>(poll_every_.count());
      start_timer(poll_timer_.get(), on_poll_timer, ms, ms);
    } else if (!want && poll_timer_.active()) {
      uv_timer_stop(poll_timer_.get());
    }
  }
  // A SIGCHLD wake-up can be lost in libuv's signal pipe (full after 4,096 undelivered
  // signals of any kind in the process), and an exit already a zombie raises no second
  // one: without another look, its callback would never run and its zombie would stay.
  // A periodic plain sweep is that look. It is armed only while a child depends on
  // SIGCHLD, so a reaper with nothing to wait for never wakes the loop.
  const bool safety = state_ != state::closed && poll_every_.count() == 0 &&
                      opts_.safety_sweep.count() > 0 && !table_.empty() && sigchld_.active();
  if (safety && !safety_timer_.active()) {
    const auto ms = static_cast<std::uint64_t>(opts_.safety_sweep.count());
    start_timer(safety_timer_.get(), on_safety_timer, ms, ms);
  } else if (!safety && safety_timer_.active()) {
    uv_timer_stop(safety_timer_.get());
  }
}

// ---------------------------------------------------------------------------------------
// The user-code boundary

void core::invoke(const exit_callback& cb, const exit_status& st) noexcept {
  try {
    cb(st);
  } catch (...) {
    ++stats_.callback_exceptions;
    report_exception(std::current_exception(), st.pid());
  }
}

void core::invoke_started(started_note& n) noexcept {
  try {
    n.callback(n.pid, n.error);
  } catch (...) {
    ++stats_.callback_exceptions;
    report_exception(std::current_exception(), n.pid > 0 ? n.pid : 0);
  }
}

void core::report_exception(std::exception_ptr e, pid_t pid) noexcept {
  if (opts_.on_exception) {
    opts_.on_exception(std::move(e), pid);  // a throwing hook terminates: noexcept
    return;
  }
  std::fprintf(stderr, "uvreap: callback for pid %d threw: %s\n", static_cast<int>(pid),
               what_of(std::move(e)));
}

void core::report(int neg_errno, std::string_view what) noexcept {
  ++stats_.errors;
  const std::error_code ec = errno_code(-neg_errno);
  if (opts_.on_error) {
    try {
      opts_.on_error(ec, what);
    } catch (...) {
      report_exception(std::current_exception(), 0);
    }
    return;
  }
  std::fprintf(stderr, "uvreap: %.*s failed: %s\n", static_cast<int>(what.size()), what.data(),
               ec.message().c_str());
}

}  // namespace uvreap::detail
