// SPDX-License-Identifier: MIT
// uvreap (private): the core's trees — what a spawned child starts, held in a cgroup of
// its own (or a process group), signalled as one, killed when the child exits, and the
// child's exit callback held until the cgroup is empty.
//
// The cgroup's emptiness is watched on the loop: cgroup.events changes when "populated"
// does, and inotify reports that as IN_MODIFY; one inotify fd for the reaper, on one
// uv_poll_t, made at the first tree that outlives its child. No polling loop, unless
// inotify cannot be had (then the re-sweep timer looks every 10 ms, and it is reported).
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core.hpp"
#include "errno_code.hpp"
#include "exit_status_builder.hpp"
#include "spawn_plan.hpp"

namespace uvreap::detail {

std::error_code core::prepare_tree(uvreap::tree mode, std::unique_ptr<tree_birth>& out) noexcept {
  out.reset();
  if (mode == uvreap::tree::none) return {};
  try {
    out = std::make_unique<tree_birth>();
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  if (std::error_code ec = home_.prepare(mode, *out); ec) {
    out.reset();
    return ec;
  }
  return {};
}

pid_t core::start_in_tree(spawn_plan& plan, tree_birth* t, bool want_pidfd, int* pidfd) noexcept {
  if (t == nullptr) return plan.start(want_pidfd, pidfd);
  plan.contain(t->fd, t->applied == uvreap::tree::process_group);
  pid_t pid = plan.start(want_pidfd, pidfd);
  if (pid == -ENOSYS && t->applied == uvreap::tree::cgroup && t->automatic &&
      plan.failed_step() == child_step::clone) {
    // clone3 refused (a seccomp filter, an architecture without our clone3 entry): the
    // child is born in a process group instead, and its exit record says so.
    t->fall_back_to_group();
    plan.contain(-1, true);
    pid = plan.start(want_pidfd, pidfd);
  }
  t->close_fd();
  return pid;
}

bool core::hold_for_tree(pid_t pid, bool lost, std::unique_ptr<tree_birth> t, pending& p) noexcept {
  tree_report rep;
  rep.applied = t->applied;
  if (t->applied == uvreap::tree::process_group) {
    // The group's id stays the group's while any member lives, so this reaches only the
    // group. Not after a lost exit: someone else reaped the child, maybe long ago, and
    // with no member left the id may be another group's now.
    if (!lost) {
      if (int r = os_.kill(-pid, SIGKILL); r < 0 && r != -ESRCH) report(r, "kill of a child's process group");
    }
    p.status = exit_status_builder::with_tree(p.status, rep);
    return false;
  }
  bool populated = true;
  if (std::error_code ec = t->slot->populated(populated); ec) {
    report(-ec.value(), "reading a child's cgroup.events");
    populated = true;  // kill it anyway, and watch for the end
  }
  if (!populated) {
    rep.descendants_at_exit = 0;
    finish_tree(rep, std::move(t->slot));
    p.status = exit_status_builder::with_tree(p.status, rep);
    return false;
  }
  int left = 0;
  if (std::error_code ec = t->slot->dir.count(left); !ec) rep.descendants_at_exit = left;
  if (int r = signal_members(*t->slot, SIGKILL); r < 0) report(r, "cgroup.kill of a child's tree");
  // Room for every live tree was reserved at its spawn (reserve_for_one).
  draining_.push_back(draining_tree{std::move(p), rep, std::move(t->slot), -1});
  draining_tree& d = draining_.back();
  if (int r = watch_tree(d); r < 0) {
    report(r, "inotify watch of a child's cgroup.events");
    schedule_resweep();
  }
  // It may have emptied before the watch was in place: look once now that it is.
  collect_drained(true, draining_.size() - 1);
  return true;
}

int core::watch_tree(draining_tree& d) noexcept {
  if (int r = start_tree_poll(); r < 0) return r;
  const std::string events = d.slot->dir.path() + "/cgroup.events";
  const int wd = ::inotify_add_watch(inotify_fd_, events.c_str(), IN_MODIFY);
  if (wd < 0) return -errno;
  d.wd = wd;
  return 0;
}

int core::start_tree_poll() noexcept {
  if (inotify_fd_ < 0) {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return -errno;
    inotify_fd_ = fd;
  }
  if (tree_poll_.initialised()) return 0;
  if (int r = uv_poll_init(loop_, tree_poll_.get(), inotify_fd_); r < 0) return r;
  tree_poll_.owned_by(this);
  tree_poll_.keeps_loop_alive(false);  // the main handle counts draining trees
  if (state_ == state::closing) tree_poll_.hide_from_walk(true);
  return uv_poll_start(tree_poll_.get(), UV_READABLE, on_tree_event);
}

void core::on_tree_event(uv_poll_t* h, int /*status*/, int /*events*/) {
  auto* self = enter(h->data);
  // Which watches fired; the cgroups behind them are looked at, the others are not.
  alignas(inotify_event) char buf[4096];
  self->fired_wds_.clear();
  for (;;) {
    const ssize_t n = ::read(self->inotify_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: all read
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
      try {
        self->fired_wds_.push_back(ev->wd);
      } catch (const std::bad_alloc&) {
        self->fired_wds_.clear();
        self->collect_drained(true);  // look at every tree instead
        break;
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  if (!self->fired_wds_.empty()) self->collect_drained(false);
  self->dispatch();
  self->after_dispatch();
}

void core::collect_drained(bool all, std::size_t from) noexcept {
  for (std::size_t i = from; i < draining_.size();) {
    draining_tree& d = draining_[i];
    if (!all && d.wd >= 0 &&
        std::find(fired_wds_.begin(), fired_wds_.end(), d.wd) == fired_wds_.end()) {
      ++i;
      continue;
    }
    bool populated = true;
    if (std::error_code ec = d.slot->populated(populated); ec) {
      // Gone (someone removed it) or unreadable: nothing more can be learnt from it.
      report(-ec.value(), "reading a child's cgroup.events");
      populated = false;
    }
    if (populated) {
      ++i;
      continue;
    }
    if (d.wd >= 0) (void)::inotify_rm_watch(inotify_fd_, d.wd);  // EINVAL if it went already
    finish_tree(d.report, std::move(d.slot));
    d.exit.status = exit_status_builder::with_tree(d.exit.status, d.report);
    // Room: the batch is empty between dispatches, and a sweep's own room was reserved
    // per child (reserve_for_one) — this child's slot, unused when it was held.
    batch_.push_back(std::move(d.exit));
    if (i + 1 != draining_.size()) d = std::move(draining_.back());
    draining_.pop_back();
  }
  bool unwatched = false;
  for (const draining_tree& d : draining_)
    unwatched = unwatched || d.wd < 0;
  if (unwatched) schedule_resweep();
}

void core::finish_tree(tree_report& r, std::unique_ptr<cgroup_slot> slot) noexcept {
  // The cgroup is empty: what it used is the tree's, and the slot serves the next tree.
  std::chrono::microseconds cpu{0};
  if (!slot->cpu_usage(cpu)) {
    r.cpu = cpu - slot->cpu_base;
    slot->cpu_base = cpu;
  }
  long long peak = 0;
  if (home_.has_memory_peak() && !slot->dir.memory_peak(peak)) r.memory_peak = peak;
  home_.give_back(std::move(slot));
}

int core::signal_members(cgroup_slot& slot, int sig) noexcept {
  const cgroup::directory& dir = slot.dir;
  if (sig == SIGKILL) {
    slot.killed = true;
    std::error_code ec = dir.kill();
    return ec ? -ec.value() : 0;
  }
  // A frozen process cannot exit (only be killed), so no pid read from cgroup.procs is
  // handed to another process before its signal is sent.
  std::error_code frozen = dir.freeze(true);
  std::vector<pid_t> pids;
  std::error_code listed = dir.members(pids);
  int result = listed ? -listed.value() : 0;
  if (!listed) {
    for (pid_t p : pids) {
      if (int r = os_.kill(p, sig); r < 0 && r != -ESRCH && result == 0) result = r;
    }
  }
  if (!frozen) {
    if (std::error_code ec = dir.freeze(false); ec) report(-ec.value(), "thawing a child's cgroup");
  }
  return result;
}

int core::signal_tree(pid_t pid, const tree_birth& t, int sig) noexcept {
  if (t.applied == uvreap::tree::process_group) return os_.kill(-pid, sig);
  if (sig == 0) return os_.kill(pid, 0);  // the child is unreaped: a probe of it
  return signal_members(*t.slot, sig);
}

void core::kill_tree(pid_t pid, int sig, std::error_code& ec) noexcept {
  if (ec = check_usable(); ec) return;
  if (pid <= 0 || sig < 0 || sig >= NSIG) {
    ec = errno_code(EINVAL);
    return;
  }
  if (const child_table::entry* e = table_.find(pid); e != nullptr) {
    if (!e->tree) {
      ec = errno_code(EINVAL);  // spawned with tree::none, or watched: no tree to signal
      return;
    }
    if (int r = signal_tree(pid, *e->tree, sig); r < 0) ec = errno_code(-r);
    return;
  }
  // Its child is gone and the rest is dying (SIGKILL sent): another signal still reaches
  // what is left until the callback runs.
  for (draining_tree& d : draining_) {
    if (d.exit.status.pid() != pid) continue;
    if (sig != 0 && sig != SIGKILL) {
      if (int r = signal_members(*d.slot, sig); r < 0 && r != -ESRCH) ec = errno_code(-r);
    }
    return;
  }
  ec = errno_code(ESRCH);
}

void core::close_trees() noexcept {
  // finish_close: draining trees are all killed and empty by now, except when the close
  // could not wait (no memory for handles): what is left of them is dropped.
  for (draining_tree& d : draining_) {
    if (d.wd >= 0 && inotify_fd_ >= 0) (void)::inotify_rm_watch(inotify_fd_, d.wd);
  }
  draining_.clear();
  // EBUSY while a tree left running (close_options::leave_running) is in it: it stays.
  (void)home_.remove();
}

}  // namespace uvreap::detail
