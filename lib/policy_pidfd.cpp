// SPDX-License-Identifier: MIT
// uvreap (private): policy pidfd — each child's pidfd in one epoll set; no SIGCHLD.
//
// What the kernel does not promise, and how this copes:
// - A pidfd is readable once the process has exited, but not always reapable by us at
//   that moment: a tracer sees a traced child's exit first. Such a pidfd is parked (it
//   was armed one-shot, so it stays quiet) and re-armed on the core's 10 ms re-sweep,
//   never waited for — a blocking wait would stall the loop.
// - pidfd_open can fail for one child (EMFILE, ENFILE, ENOMEM, ...). That child is still
//   ours: it is reaped by per-pid wait4 on SIGCHLD, which the core watches for as long as
//   any such fd-less child exists.
// - A kernel before 5.3 has no pidfd_open (ENOSYS): the reaper runs as `own` instead,
//   decided once at start.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

#include "errno_code.hpp"
#include "policy.hpp"

namespace uvreap::detail {

namespace {

class pidfd_policy final : public exit_source {
 public:
  std::error_code start(const options& opts, os_calls& os) noexcept {
    const int probe = os.pidfd_open(::getpid());
    if (probe < 0) return errno_code(-probe);  // ENOSYS: the caller falls back to own
    (void)os.close(probe);
    try {
      events_.resize(std::min<std::size_t>(opts.max_batch, 1024));
    } catch (const std::bad_alloc&) {
      return errno_code(ENOMEM);
    }
    const int fd = os.epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return errno_code(-fd);
    epfd_ = fd;
    os_ = &os;
    return {};
  }
  ~pidfd_policy() override { release_poll_fd(); }

  void release_poll_fd() noexcept override {
    if (epfd_ >= 0) (void)os_->close(epfd_);
    epfd_ = -1;
  }

  policy kind() const noexcept override { return policy::pidfd; }
  int poll_fd() const noexcept override { return epfd_; }
  bool wants_sigchld() const noexcept override { return !fdless_.empty(); }

  bool wants_birth_pidfd() const noexcept override { return true; }

  adoption adopted(pid_t pid, int pidfd, os_calls& os) noexcept override {
    int fd = pidfd >= 0 ? pidfd : os.pidfd_open(pid);
    if (fd >= 0 && arm(os, EPOLL_CTL_ADD, pid, fd) < 0) {
      (void)os.close(fd);
      fd = -1;
    }
    if (fd >= 0) return {fd, false};
    // Out of fds (EMFILE, ENFILE) or kernel memory: the child is ours all the same,
    // reaped by per-pid wait4 on SIGCHLD. It may have exited already, and its SIGCHLD
    // gone before the watcher started, so the core looks once on the next iteration.
    fdless_.push_back(pid);  // room reserved by reserve_one
    return {-1, true};
  }

  void released(pid_t pid, int pidfd, os_calls& os, error_sink& errors) noexcept override {
    if (pidfd >= 0) {
      // Also takes it out of the epoll set. Never retried (see os_calls::close).
      if (int r = os.close(pidfd); r < 0 && r != -EINTR) errors.report(r, "close(pidfd)");
      return;
    }
    const auto it = std::find(fdless_.begin(), fdless_.end(), pid);
    if (it != fdless_.end()) {
      *it = fdless_.back();
      fdless_.pop_back();
    }
  }

  void reserve_one() override { fdless_.reserve(fdless_.size() + 1); }

  sweep_result collect(sweep_context& ctx) noexcept override {
    if (ctx.kind == sweep_kind::resweep) rearm_parked(ctx);
    if (!fdless_.empty()) {
      // Children without a pidfd, by number (they are what SIGCHLD is watched for).
      ++ctx.counters.fallback_scans;
      for (pid_t pid : fdless_) {
        if (ctx.out.size() >= ctx.budget) return sweep_result::more;
        int err = 0;
        if (reap_by_pid(ctx.os, pid, ctx.out, &err) == reap_outcome::failed) {
          ctx.errors.report(err, "wait4(pid, WNOHANG)");
          return sweep_result::resweep;
        }
      }
    }
    const std::size_t room = std::min(events_.size(), ctx.budget - ctx.out.size());
    if (room == 0) return sweep_result::more;
    const int n = ctx.os.epoll_wait(epfd_, events_.data(), static_cast<int>(room));
    if (n < 0) {
      ctx.errors.report(n, "epoll_wait");
      return sweep_result::resweep;
    }
    sweep_result result = sweep_result::done;
    for (int i = 0; i < n; ++i) {
      const auto pid = static_cast<pid_t>(events_[static_cast<std::size_t>(i)].data.u64);
      if (!ctx.table.contains(pid)) continue;
      int err = 0;
      switch (reap_by_pid(ctx.os, pid, ctx.out, &err)) {
        case reap_outcome::reaped:
          break;
        case reap_outcome::running:
          // Readable with nothing to reap (a traced child): park it until the re-sweep.
          ++ctx.counters.pidfd_not_reapable;
          park(ctx, pid);
          result = sweep_result::resweep;
          break;
        case reap_outcome::failed:
          ctx.errors.report(err, "wait4(pid, WNOHANG)");
          result = sweep_result::resweep;
          break;
      }
    }
    // What is left stays readable: the level-triggered uv_poll fires again on the next
    // iteration, after the rest of the loop has run.
    return result;
  }

 private:
  // Arms (EPOLL_CTL_ADD) or re-arms (EPOLL_CTL_MOD) a pidfd for one readiness report.
  int arm(os_calls& os, int op, pid_t pid, int fd) noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = static_cast<std::uint64_t>(pid);
    return os.epoll_ctl(epfd_, op, fd, &ev);
  }

  void park(sweep_context& ctx, pid_t pid) noexcept {
    try {
      parked_.push_back(pid);
    } catch (const std::bad_alloc&) {
      // Re-arm at once instead: it may fire again next iteration, but is not lost.
      if (const auto* e = ctx.table.find(pid)) {
        if (int r = arm(ctx.os, EPOLL_CTL_MOD, pid, e->pidfd); r < 0) {
          ctx.errors.report(r, "epoll_ctl");
        }
      }
    }
  }

  void rearm_parked(sweep_context& ctx) noexcept {
    for (pid_t pid : parked_) {
      const auto* e = ctx.table.find(pid);
      if (e == nullptr || e->pidfd < 0) continue;
      if (int r = arm(ctx.os, EPOLL_CTL_MOD, pid, e->pidfd); r < 0) {
        ctx.errors.report(r, "epoll_ctl");
      }
    }
    parked_.clear();
  }

  os_calls* os_ = nullptr;
  int epfd_ = -1;
  std::vector<epoll_event> events_;
  std::vector<pid_t> fdless_;  // owned children that got no pidfd
  std::vector<pid_t> parked_;  // readable pidfds with nothing to reap, re-armed later
};

}  // namespace

std::unique_ptr<exit_source> start_pidfd_policy(const options& opts, os_calls& os,
                                                std::error_code& ec) noexcept {
  std::unique_ptr<pidfd_policy> p;
  try {
    p = std::make_unique<pidfd_policy>();
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return nullptr;
  }
  if (ec = p->start(opts, os); ec) return nullptr;
  return p;
}

}  // namespace uvreap::detail
