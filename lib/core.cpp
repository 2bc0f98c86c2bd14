// SPDX-License-Identifier: MIT
// uvreap (private): the reaper's core — the sweep spine, registration, time limits,
// close, and the boundary where user code is called.
#include "core.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <new>

#include "errno_code.hpp"
#include "spawner.hpp"

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

core::core(uv_loop_t* loop, options opts) noexcept
    : loop_(loop),
      opts_(std::move(opts)),
      os_(opts_.os != nullptr ? *opts_.os : sys::os(), stats_.syscalls) {}

core::~core() = default;

policy core::effective_policy() const noexcept {
  return policy_ ? policy_->kind() : opts_.reap_policy;
}

// ---------------------------------------------------------------------------------------
// Start

std::error_code core::start(const std::shared_ptr<core>& self) noexcept {
  if (loop_ == nullptr || opts_.max_batch == 0 || opts_.poll_interval.count() < 0 ||
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
  std::error_code ec;
  policy_ = start_policy(opts_, os_, *this, ec);
  if (ec) return ec;

  // The handles. From the first successful init on, they can only be released through
  // uv_close, so every failure below takes the one unwind at the end.
  self_ = self;
  int r = uv_signal_init(loop_, sigchld_.get());
  if (r == 0) r = uv_idle_init(loop_, continuation_.get());
  if (r == 0) r = uv_timer_init(loop_, resweep_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, poll_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, deadline_timer_.get());
  if (r == 0) r = uv_timer_init(loop_, grace_timer_.get());
  if (r == 0) r = uv_async_init(loop_, inbox_async_.get(), on_inbox);
  if (r == 0 && policy_->poll_fd() >= 0) {
    r = uv_poll_init(loop_, pidfd_poll_.get(), policy_->poll_fd());
  }
  for (uv_handle_t* h :
       {sigchld_.base(), continuation_.base(), resweep_timer_.base(), poll_timer_.base(),
        deadline_timer_.base(), grace_timer_.base(), inbox_async_.base(), pidfd_poll_.base()}) {
    h->data = this;
  }
  // Owned children keep the loop alive through the main handle (update_ref), a pending
  // continuation and a terminating close through theirs; these never do.
  for (uv_handle_t* h : {sigchld_.base(), resweep_timer_.base(), poll_timer_.base(),
                         deadline_timer_.base(), inbox_async_.base(), pidfd_poll_.base()}) {
    if (h->loop != nullptr) uv_unref(h);
  }
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
  if (r != 0) {
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
  enter(h->data)->sweep(sweep_kind::resweep);
}

void core::on_pidfd_ready(uv_poll_t* h, int /*status*/, int /*events*/) {
  enter(h->data)->sweep(sweep_kind::wake);
}

void core::on_poll_timer(uv_timer_t* h) {
  auto* self = enter(h->data);
  ++self->stats_.poll_sweeps;
  self->sweep(sweep_kind::safety_poll);
}

void core::on_inbox(uv_async_t* h) {
  auto* self = enter(h->data);
  self->drain_inbox();
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
  sweep_context ctx{table_, os_, reaped_, budget, why, *this, stats_};
  const sweep_result result = policy_->collect(ctx);
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
  } else if (result == sweep_result::retry) {
    schedule_resweep();
  }
  dispatch();
  after_dispatch();
}

void core::release(const reaped& r) noexcept {
  bool fired = false;
  exit_callback cb = take_child(r.pid, &fired);
  if (!cb && policy_->reaps_unregistered()) {
    // Another thread may have spawned it and not queued it yet: it holds the inbox lock
    // from before posix_spawn until the pid is queued, so draining settles it.
    drain_inbox();
    cb = take_child(r.pid, &fired);
  }
  const bool orphan = !cb;
  exit_status st = exit_status::make_lost(r.pid);
  if (r.lost) {
    ++stats_.lost;
  } else {
    ++(orphan ? stats_.orphans_reaped : stats_.exits_reaped);
    st = exit_status::from_wait(r.pid, r.status, &r.usage);
  }
  // Room: reserve_for_one keeps one slot per owned child, and the budget bounds a sweep.
  batch_.push_back(pending{st.with_deadline_fired(fired), std::move(cb), orphan});
}

void core::deliver_lost(pid_t pid) noexcept {
  release(reaped{pid, 0, {}, true});
}

exit_callback core::take_child(pid_t pid, bool* deadline_fired) noexcept {
  // The one place where a child leaves the table.
  child_table::entry rest{};
  exit_callback cb = table_.take(pid, &rest);
  if (!cb) return cb;  // not ours: callbacks are never empty (EINVAL at the door)
  if (deadline_fired != nullptr) *deadline_fired = rest.deadline_fired;
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
  }
  batch_.clear();
}

void core::after_dispatch() noexcept {
  if (state_ == state::closing && table_.empty()) {
    finish_close();
  } else {
    update_ref();
  }
}

// ---------------------------------------------------------------------------------------
// Registration

std::error_code core::check_usable() const noexcept {
  if (state_ != state::open) return errno_code(ESTALE);
  // In a forked child of the process that created us, none of our children is its child.
  if (fork_generation() != generation_) return errno_code(ECHILD);
  return {};
}

std::error_code core::reserve_for_one(bool with_deadline) noexcept {
  try {
    table_.reserve(table_.size() + 1);
    batch_.reserve(batch_.size() + 1);
    policy_->reserve_one();
    if (with_deadline) deadlines_.reserve_one();
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  return {};
}

void core::adopt(pid_t pid, exit_callback cb) noexcept {
  // The caller reserved room (reserve_for_one), so nothing here can fail.
  if (table_.contains(pid)) {
    // The kernel handed out this pid again, so the child we held under it was reaped by
    // someone else before we noticed: deliver that one as lost first.
    deliver_lost(pid);
    schedule_continuation();
  }
  const adoption a = policy_->adopted(pid, os_);
  if (a.look_now) {
    ++stats_.pidfd_fallbacks;
    update_sigchld_watch();
    schedule_continuation();
  }
  table_.insert(pid, std::move(cb), a.pidfd);
  update_ref();
}

pid_t core::spawn(const spawn_options& opts, exit_callback cb, std::error_code& ec) noexcept {
  if (!on_loop_thread()) return spawn_from_thread(opts, std::move(cb), ec);
  if (ec = check_usable(); ec) return -1;
  if (!cb) {
    ec = errno_code(EINVAL);
    return -1;
  }
  spawn_plan plan;
  if (ec = plan.prepare(opts); ec) return -1;
  if (ec = reserve_for_one(opts.time_limit.has_value()); ec) return -1;
  pid_t pid = -1;
  // posix_spawn returns only once the child has exec'd or failed to (glibc's child
  // reports the exec error through shared memory, and the failed child is reaped inside
  // posix_spawn): there is no exec-error pipe to read and no window in which a pid we
  // return belongs to a child that has not exec'd yet, so kill(pid) never meets the
  // half-made child that libuv's pipe comment guards against.
  if (int r = os_.spawn(&pid, plan.file(), plan.actions(), plan.attr(), plan.argv(), plan.envp(),
                        plan.search_path());
      r < 0) {
    ec = errno_code(-r);
    return -1;
  }
  // No sweep can run between posix_spawn returning and this insert (both are on the
  // loop thread), so even a child that exited at once is found by the next sweep.
  adopt(pid, std::move(cb));
  if (opts.time_limit) arm_deadline(pid, *opts.time_limit, 0);
  return pid;
}

pid_t core::spawn_from_thread(const spawn_options& opts, exit_callback cb,
                              std::error_code& ec) noexcept {
  if (!cb) {
    ec = errno_code(EINVAL);
    return -1;
  }
  if (fork_generation() != generation_) {
    ec = errno_code(ECHILD);
    return -1;
  }
  spawn_plan plan;
  if (ec = plan.prepare(opts); ec) return -1;
  sys::interface& os = os_.seam();
  auto make = [&](uvreap::stats::syscall_counts& calls) {
    pid_t pid = -1;
    const int r = retry_eintr(calls.spawn, calls.eintr, [&] {
      return os.spawn(&pid, plan.file(), plan.actions(), plan.attr(), plan.argv(), plan.envp(),
                      plan.search_path());
    });
    return r < 0 ? r : pid;
  };
  auto discard = [&](pid_t pid, uvreap::stats::syscall_counts& calls) {
    (void)retry_eintr(calls.kill, calls.eintr, [&] { return os.kill(pid, SIGKILL); });
    int status = 0;
    (void)retry_eintr(calls.wait4, calls.eintr, [&] { return os.wait4(pid, &status, 0, nullptr); });
  };
  thread_inbox::item it;
  it.callback = std::move(cb);
  it.time_limit = opts.time_limit;
  return inbox_.submit_spawn(std::move(it), policy_->reaps_unregistered(), make, discard, ec);
}

void core::watch(pid_t pid, exit_callback cb, std::error_code& ec) noexcept {
  if (!on_loop_thread()) return watch_from_thread(pid, std::move(cb), ec);
  if (ec = check_usable(); ec) return;
  if (pid <= 0 || !cb) {
    ec = errno_code(EINVAL);
    return;
  }
  if (table_.contains(pid)) {
    ec = errno_code(EBUSY);
    return;
  }
  // Is it an unreaped child of ours, and has it exited already? One peek answers both
  // without reaping it.
  siginfo_t si{};
  if (int r = os_.waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT); r < 0) {
    ec = errno_code(-r);
    return;
  }
  if (ec = reserve_for_one(false); ec) return;
  adopt(pid, std::move(cb));
  // Its SIGCHLD may have come and gone: sweep on the next iteration (never from here,
  // so that the callback cannot run inside watch()). A pidfd of a zombie is readable at
  // once, which has the same effect.
  if (si.si_pid == pid) schedule_continuation();
}

void core::watch_from_thread(pid_t pid, exit_callback cb, std::error_code& ec) noexcept {
  if (pid <= 0 || !cb) {
    ec = errno_code(EINVAL);
    return;
  }
  if (fork_generation() != generation_) {
    ec = errno_code(ECHILD);
    return;
  }
  sys::interface& os = os_.seam();
  auto peek = [&](uvreap::stats::syscall_counts& calls) {
    siginfo_t si{};
    return retry_eintr(calls.waitid, calls.eintr, [&] {
      return os.waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT);
    });
  };
  thread_inbox::item it;
  it.pid = pid;
  it.callback = std::move(cb);
  inbox_.submit_watch(std::move(it), policy_->reaps_unregistered(), peek, ec);
}

void core::drain_inbox() noexcept {
  if (!register_drained()) return;  // still out of memory for an earlier batch
  inbox_.take_all(drained_, stats_.syscalls);
  register_drained();
}

bool core::register_drained() noexcept {
  std::size_t i = 0;
  for (; i < drained_.size(); ++i) {
    thread_inbox::item& q = drained_[i];
    if (q.watched && table_.contains(q.pid)) {
      report(-EBUSY, "watch from another thread: pid already watched");
      continue;
    }
    if (auto ec = reserve_for_one(q.time_limit.has_value()); ec) {
      // Keep it (and the rest) and try again on the re-sweep timer; nothing is lost.
      report(-ENOMEM, "registering a child from another thread");
      schedule_resweep();
      break;
    }
    ++stats_.queued_registrations;
    adopt(q.pid, std::move(q.callback));
    if (q.time_limit) {
      const auto waited = std::chrono::steady_clock::now() - q.made;
      arm_deadline(q.pid, *q.time_limit,
                   static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()));
    }
    // It may have exited already, its SIGCHLD consumed by a sweep that did not know it.
    schedule_continuation();
  }
  drained_.erase(drained_.begin(), drained_.begin() + static_cast<std::ptrdiff_t>(i));
  return drained_.empty();
}

void core::kill(pid_t pid, int sig, std::error_code& ec) noexcept {
  if (ec = check_usable(); ec) return;
  // kill(0) and kill(-n) signal whole process groups, kill(-1) everything we may.
  if (pid <= 0 || sig < 0 || sig >= NSIG) {
    ec = errno_code(EINVAL);
    return;
  }
  // Only a pid still in the table is certainly ours: once reaped, the kernel may give
  // the number to an unrelated process, so we never signal it.
  if (!table_.contains(pid)) {
    ec = errno_code(ESRCH);
    return;
  }
  if (int r = os_.kill(pid, sig); r < 0) ec = errno_code(-r);
}

// ---------------------------------------------------------------------------------------
// Time limits

std::uint64_t core::clock_now() noexcept {
  // uv_now() is the time cached when the current loop iteration began; whatever ran
  // since (a callback that worked for a second, start-up code before uv_run) would
  // otherwise be taken off every limit and grace armed now. Every timer of ours is armed
  // through this or start_timer.
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
                                      static_cast<std::uint32_t>(d.grace.count()), d.process_group);
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
    if (int r = os_.kill(step.group ? -step.pid : step.pid, sig); r < 0 && r != -ESRCH) {
      report(r, "kill (time limit)");
    }
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
  auto& main = pidfd_poll_.initialised() ? *pidfd_poll_.base() : *sigchld_.base();
  table_.empty() ? uv_unref(&main) : uv_ref(&main);
  if (poll_every_.count() > 0) {
    const bool want = state_ == state::open && (!table_.empty() || policy_->reaps_unregistered());
    if (want && !poll_timer_.active()) {
      const auto ms = static_cast<std::uint64_t>(poll_every_.count());
      start_timer(poll_timer_.get(), on_poll_timer, ms, ms);
    } else if (!want && poll_timer_.active()) {
      uv_timer_stop(poll_timer_.get());
    }
  }
}

// ---------------------------------------------------------------------------------------
// Close

bool core::close(const close_options& how, std::function<void()> on_closed) noexcept {
  if (state_ != state::open) return false;
  // The inbox shuts (later calls from other threads get ESTALE); what it holds becomes
  // ordinary children, terminated or left running like the others.
  inbox_.shut();
  drain_inbox();
  state_ = state::closing;
  policy_->close(os_, *this);  // the `all` claim and the subreaper flag go back now
  on_closed_ = std::move(on_closed);
  if (how.terminate && !table_.empty()) signal_unreaped(how.signal);
  if (how.terminate && !table_.empty()) {
    // The grace is counted from this call, whatever the loop did earlier in its iteration.
    start_timer(grace_timer_.get(), on_grace,
                static_cast<std::uint64_t>(std::max<std::int64_t>(how.grace.count(), 0)));
    // Some may be zombies already, whose SIGCHLD was consumed earlier.
    schedule_continuation();
    update_ref();
    return true;
  }
  finish_close();
  return true;
}

void core::signal_unreaped(int sig) noexcept {
  // While closing: a child whose exit is already waiting is reaped (its record dropped,
  // as every record is after close) instead of signalled, and counted in
  // stats::signals_skipped. release() moves the table's last entry into slot i.
  for (std::size_t i = 0; i < table_.size();) {
    const pid_t pid = table_.at(i).pid;
    if (reap_now(pid) == reap_outcome::reaped) {
      ++stats_.signals_skipped;
      if (batch_.size() >= opts_.max_batch) dispatch();  // drops them: we are closing
      continue;
    }
    // ESRCH cannot happen for an unreaped child (a zombie accepts signals); any error is
    // reported and the grace period's SIGKILL or the child's own exit still ends it.
    if (int r = os_.kill(pid, sig); r < 0) report(r, "kill");
    ++i;
  }
  dispatch();
}

void core::finish_close() noexcept {
  state_ = state::closed;
  while (!table_.empty())
    take_child(table_.at(table_.size() - 1).pid, nullptr);
  deadlines_.clear();
  drained_.clear();
  if (policy_) policy_->close(os_, *this);
  for (uv_handle_t* h :
       {sigchld_.base(), pidfd_poll_.base(), continuation_.base(), resweep_timer_.base(),
        poll_timer_.base(), deadline_timer_.base(), grace_timer_.base(), inbox_async_.base()}) {
    // A handle whose init never ran (or failed) has no loop and owes no close callback.
    if (h->loop != nullptr && uv_is_closing(h) == 0) {
      uv_close(h, on_handle_closed);
      ++closing_handles_;
    }
  }
  if (closing_handles_ == 0) all_handles_closed();  // a start that initialised none
}

void core::on_handle_closed(uv_handle_t* h) {
  auto* self = static_cast<core*>(h->data);
  if (--self->closing_handles_ == 0) self->all_handles_closed();
}

void core::all_handles_closed() noexcept {
  // Dropping self_ may destroy *this: take it first and touch no member afterwards.
  std::shared_ptr<core> keep = std::move(self_);
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
