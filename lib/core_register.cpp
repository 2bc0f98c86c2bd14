// SPDX-License-Identifier: MIT
// uvreap (private): how children enter the core — spawn, watch and kill on the loop
// thread, and from other threads through the thread inbox.
#include <sys/wait.h>

#include "core.hpp"
#include "errno_code.hpp"
#include "exit_status_builder.hpp"
#include "sandbox.hpp"
#include "spawn_plan.hpp"

namespace uvreap::detail {

namespace {

// A child made on another thread that cannot be handed to the loop (the reaper closed
// meanwhile, or no memory to queue it): nobody will ever own it, so it goes now, with its
// tree. What the tree had started dies by SIGKILL; its cgroup, if they are not gone yet
// when the tree is dropped, stays behind (empty soon, but not removed).
void discard_child(os_calls& os, pid_t pid, tree_birth* tree) noexcept {
  if (tree != nullptr && tree->slot) (void)tree->slot->dir.kill();
  (void)os.kill(tree != nullptr && tree->applied == uvreap::tree::process_group ? -pid : pid,
                SIGKILL);
  int status = 0;
  (void)os.wait4(pid, &status, 0, nullptr);
}

}  // namespace

std::error_code core::check_usable() const noexcept {
  if (state_ != state::open) return errno_code(ESTALE);
  // In a forked child of the process that created us, none of our children is its child.
  if (fork_generation() != generation_) return errno_code(ECHILD);
  return {};
}

std::error_code core::reserve_for_one(bool with_deadline, bool with_tree) noexcept {
  try {
    table_.reserve(table_.size() + 1);
    batch_.reserve(batch_.size() + 1);
    policy_->reserve_one();
    if (with_deadline) deadlines_.reserve_one();
    // Every live tree may come to drain at once: hold_for_tree never allocates.
    if (with_tree) draining_.reserve(draining_.size() + live_trees_ + 1);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  return {};
}

void core::adopt(pid_t pid, exit_callback cb, int pidfd, std::unique_ptr<tree_birth> tree,
                 std::unique_ptr<terminal_hold> terminal, std::uint16_t sandbox) noexcept {
  // The caller reserved room (reserve_for_one), so nothing here can fail.
  if (table_.contains(pid)) {
    // The kernel handed out this pid again, so the child we held under it was reaped by
    // someone else before we noticed: deliver that one as lost first.
    deliver_lost(pid);
    schedule_continuation();
  }
  const adoption a = policy_->adopted(pid, pidfd, os_);
  if (a.look_now) {
    ++stats_.pidfd_fallbacks;
    update_sigchld_watch();
    schedule_continuation();
  }
  table_.insert(pid, std::move(cb), a.pidfd);
  if (tree || terminal || sandbox != 0) {
    child_table::entry* e = table_.find(pid);
    e->terminal = std::move(terminal);
    e->sandbox = sandbox;
    if (tree) {
      e->tree = std::move(tree);
      ++live_trees_;
    }
  }
  update_ref();
}

pid_t core::spawn(const spawn_options& opts, exit_callback cb, std::error_code& ec) noexcept {
  if (!on_loop_thread()) return spawn_from_thread(opts, std::move(cb), ec);
  if (ec = check_usable(); ec) return -1;
  if (ec = ensure_handles(); ec) return -1;
  if (!cb) {
    ec = errno_code(EINVAL);
    return -1;
  }
  spawn_plan plan;
  if (ec = plan.prepare(opts, os_); ec) return -1;
  std::unique_ptr<tree_birth> tree;
  if (ec = prepare_tree(opts.tree, tree); ec) return -1;
  if (ec = reserve_for_one(opts.time_limit.has_value(), tree != nullptr); ec) return -1;
  // The engine returns once the child has exec'd or failed to (CLONE_VFORK; a failed
  // child is reaped inside): no window in which a pid we return belongs to a child that
  // has not exec'd yet, so kill(pid) never meets the half-made child that libuv's pipe
  // comment guards against.
  int pidfd = -1;
  const pid_t pid = start_in_tree(plan, tree.get(), policy_->wants_birth_pidfd(), &pidfd);
  if (pid < 0) {
    ec = errno_code(-pid);
    return -1;
  }
  // No sweep can run between the child's creation and this insert (both are on the
  // loop thread), so even a child that exited at once is found by the next sweep.
  adopt(pid, std::move(cb), pidfd, std::move(tree), plan.take_terminal(), plan.sandbox());
  if (opts.time_limit) arm_deadline(pid, *opts.time_limit, 0);
  if (int r = plan.finish(); r < 0) report(r, "uv_pipe_open of a child's pipe");
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
  // Counted here, not in the reaper's stats (those belong to the loop thread), and
  // handed to the loop thread through the inbox on every way out.
  uvreap::stats::syscall_counts own_calls{};
  struct hand_over {
    thread_inbox& inbox;
    const uvreap::stats::syscall_counts& calls;
    ~hand_over() { inbox.count(calls); }
  } counted{inbox_, own_calls};
  os_calls os(os_.seam(), own_calls);
  spawn_plan plan;
  if (ec = plan.prepare(opts, os); ec) return -1;
  std::unique_ptr<tree_birth> tree;
  if (ec = prepare_tree(opts.tree, tree); ec) return -1;
  tree_birth* t = tree.get();  // the item owns it; it stays put
  auto make = [&](uvreap::stats::syscall_counts& /*calls*/) {
    int pidfd = -1;  // not asked for: the loop thread opens its own at registration
    return start_in_tree(plan, t, false, &pidfd);
  };
  auto discard = [&](pid_t pid, uvreap::stats::syscall_counts& /*calls*/) {
    discard_child(os, pid, t);
  };
  thread_inbox::item it;
  it.callback = std::move(cb);
  it.time_limit = opts.time_limit;
  it.tree = std::move(tree);
  it.terminal = plan.take_terminal();  // held by the item across the start
  it.sandbox = plan.sandbox();
  const pid_t pid =
      inbox_.submit_spawn(std::move(it), policy_->reaps_unregistered(), make, discard, ec);
  // The pipes are the caller's, on its own loop: opened here, on its thread.
  if (pid > 0) (void)plan.finish();
  return pid;
}

void core::spawn_async(const spawn_options& opts, started_callback on_started,
                       exit_callback on_exit, std::error_code& ec) noexcept {
  const bool on_loop = on_loop_thread();
  if (on_loop) {
    if (ec = check_usable(); ec) return;
    if (ec = ensure_handles(); ec) return;
  } else if (fork_generation() != generation_) {
    ec = errno_code(ECHILD);
    return;
  }
  if (!on_started || !on_exit) {
    ec = errno_code(EINVAL);
    return;
  }
  // What can be refused at once is refused here, on the calling thread: the options are
  // copied (the plan borrows their strings) and validated, and the parent's fds made.
  std::unique_ptr<start_job> job;
  try {
    job = std::make_unique<start_job>(os_.seam(), opts, std::move(on_started), std::move(on_exit));
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return;
  }
  if (ec = job->plan.prepare(job->opts, job->os); ec) return;
  if (ec = prepare_tree(job->opts.tree, job->tree); ec) return;
  starts_pending_.fetch_add(1, std::memory_order_relaxed);
  if (ec = starter_.submit(job); ec) {  // ESTALE once closing, EAGAIN: no thread
    starts_pending_.fetch_sub(1, std::memory_order_relaxed);
    return;  // the job goes here: its fds are closed, no callback runs
  }
  if (on_loop) update_ref();
}

void core::start_off_loop(std::unique_ptr<start_job> job) noexcept {
  // The starter's thread. The child is made here and handed to the loop thread like a
  // spawn from any other thread (thread_inbox.hpp), carrying its job along.
  start_job* j = job.get();
  thread_inbox::item it;
  it.callback = std::move(j->on_exit);
  it.time_limit = j->opts.time_limit;
  it.made = j->called;  // a time limit counts from the spawn_async call
  tree_birth* t = j->tree.get();  // the item owns it; it stays put
  it.tree = std::move(j->tree);
  it.terminal = j->plan.take_terminal();  // held by the item across the start
  it.sandbox = j->plan.sandbox();
  it.start = std::move(job);
  auto make = [j, t](uvreap::stats::syscall_counts& /*calls*/) {
    int pidfd = -1;  // not asked for: the loop thread opens its own at registration
    return start_in_tree(j->plan, t, false, &pidfd);
  };
  auto discard = [j, t](pid_t pid, uvreap::stats::syscall_counts& /*calls*/) {
    discard_child(j->os, pid, t);
  };
  std::error_code ec;
  if (inbox_.submit_spawn(std::move(it), policy_->reaps_unregistered(), make, discard, ec) > 0) {
    return;
  }
  // It did not start, or the reaper closed meanwhile (ESTALE: then the inbox drops it,
  // as no callback runs after close). `it` is intact after a failed submission.
  it.start_error = ec;
  (void)inbox_.submit_failed(std::move(it));
}

void core::note_started(thread_inbox::item& q, pid_t pid, std::error_code error) noexcept {
  // Room was reserved by the caller.
  stats_.syscalls += q.start->calls;
  started_.push_back({std::move(q.start->on_started), pid, error});
  q.start.reset();  // the plan closes what is left of its fds
  starts_pending_.fetch_sub(1, std::memory_order_relaxed);
}

void core::abandon_starts() noexcept {
  // Closing: outcomes of spawn_async not delivered yet never will be (no callback after
  // close), so nobody knows those children's pids. They are killed and reaped now rather
  // than left running or unreaped (`close_options::leave_running` included).
  for (started_note& n : started_) {
    if (n.pid <= 0 || !n.callback || !table_.contains(n.pid)) continue;
    std::unique_ptr<tree_birth> tree;
    (void)take_child(n.pid, nullptr, &tree);
    if (tree) (void)signal_tree(n.pid, *tree, SIGKILL);
    if (int r = os_.kill(n.pid, SIGKILL); r < 0) report(r, "kill of a child whose start was not reported");
    int status = 0;
    if (int r = os_.wait4(n.pid, &status, 0, nullptr); r < 0) report(r, "wait4 of a child whose start was not reported");
    // What it started is dying: the close waits for its cgroup to empty, to remove it.
    pending p{exit_status_builder::lost(n.pid), {}, true, nullptr};
    if (tree) (void)hold_for_tree(n.pid, true, std::move(tree), p);
  }
  started_.clear();
}

void core::watch(pid_t pid, exit_callback cb, std::error_code& ec) noexcept {
  if (!on_loop_thread()) return watch_from_thread(pid, std::move(cb), ec);
  if (ec = check_usable(); ec) return;
  if (ec = ensure_handles(); ec) return;
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
    if (q.start) {
      try {
        started_.reserve(started_.size() + 1);
      } catch (const std::bad_alloc&) {
        report(-ENOMEM, "reporting a spawn_async");
        schedule_resweep();
        break;
      }
      if (q.pid <= 0) {
        note_started(q, -1, q.start_error);
        continue;
      }
    }
    if (q.watched && table_.contains(q.pid)) {
      report(-EBUSY, "watch from another thread: pid already watched");
      continue;
    }
    if (auto ec = reserve_for_one(q.time_limit.has_value(), q.tree != nullptr); ec) {
      // Keep it (and the rest) and try again on the re-sweep timer; nothing is lost.
      report(-ENOMEM, "registering a child from another thread");
      schedule_resweep();
      break;
    }
    ++stats_.queued_registrations;
    adopt(q.pid, std::move(q.callback), -1, std::move(q.tree), std::move(q.terminal), q.sandbox);
    if (q.time_limit) {
      const auto waited = std::chrono::steady_clock::now() - q.made;
      arm_deadline(q.pid, *q.time_limit,
                   static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()));
    }
    if (q.start) {
      // Its pipes belong to this loop: opened here, now that the child runs.
      if (int r = q.start->plan.finish(); r < 0) report(r, "uv_pipe_open of a child's pipe");
      note_started(q, q.pid, {});
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

void core::resize(pid_t pid, int cols, int rows, std::error_code& ec) noexcept {
  if (ec = check_usable(); ec) return;
  if (pid <= 0 || cols < 1 || cols > 65535 || rows < 1 || rows > 65535) {
    ec = errno_code(EINVAL);
    return;
  }
  const child_table::entry* e = table_.find(pid);
  if (e == nullptr) {
    ec = errno_code(ESRCH);
    return;
  }
  if (!e->terminal) {
    ec = errno_code(ENOTTY);
    return;
  }
  if (int r = e->terminal->resize(static_cast<unsigned short>(cols), static_cast<unsigned short>(rows));
      r < 0) {
    ec = errno_code(-r);
  }
}

std::error_code core::sandbox_status(const sandbox_options& s, sandbox_report* what,
                                     std::string* why) noexcept {
  uvreap::stats::syscall_counts calls{};  // not the loop thread's: any thread may ask
  os_calls os(os_.seam(), calls);
  sandbox_build b;
  std::error_code ec;
  try {
    ec = build_sandbox(s, os, b, why);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  if (b.ruleset_fd >= 0) (void)os.close(b.ruleset_fd);
  if (!ec && what != nullptr) *what = b.report;
  if (!ec && why != nullptr) *why = "the sandbox can be applied";
  return ec;
}

}  // namespace uvreap::detail
