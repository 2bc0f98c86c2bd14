// SPDX-License-Identifier: MIT
// uvreap (private): policy all — every child of the process, init-style.
//
// `wait4(-1, WNOHANG)` until none is left: O(1) syscalls per exit, and it takes children
// that are not the reaper's (uv_spawn's, system()'s): documented, and why at most one
// reaper of this policy may exist in a process (the claim below). Exits nobody watches
// are the core's orphans. With options::subreaper the process also adopts orphaned
// descendants (PR_SET_CHILD_SUBREAPER), restored at close.
#include <sys/wait.h>

#include <atomic>

#include "errno_code.hpp"
#include "policy.hpp"

namespace uvreap::detail {

namespace {

// Two `all` reapers would steal from each other. The claim is process-wide, across loops
// and threads.
std::atomic<bool> g_all_claimed{false};

class all_policy final : public exit_source {
 public:
  ~all_policy() override { release_claim(); }

  std::error_code start(const options& opts, os_calls& os) noexcept {
    bool expected = false;
    if (!g_all_claimed.compare_exchange_strong(expected, true)) return errno_code(EBUSY);
    claimed_ = true;
    if (opts.subreaper) {
      int was = 0;
      int r = os.get_child_subreaper(&was);
      if (r == 0 && was == 0) {
        r = os.set_child_subreaper(1);
        subreaper_set_ = r == 0;
      }
      if (r < 0) return errno_code(-r);
    }
    return {};
  }

  policy kind() const noexcept override { return policy::all; }
  bool reaps_unregistered() const noexcept override { return true; }

  sweep_result collect(sweep_context& ctx) noexcept override {
    if (ctx.kind == sweep_kind::safety_poll) {
      // Each owned pid by number first (a whole-table step: see policy.hpp), which is how
      // a child reaped by someone else is noticed while others are alive.
      if (const auto s = scan_by_pid(ctx); s != sweep_result::done) return s;
    }
    while (ctx.out.size() < ctx.budget) {
      reaped r{0, 0, {}, false};
      const pid_t pid = ctx.os.wait4(-1, &r.status, WNOHANG, &r.usage);
      if (pid == 0) return sweep_result::done;
      if (pid == -ECHILD) return all_were_taken(ctx);
      if (pid < 0) {
        ctx.errors.report(pid, "wait4(-1, WNOHANG)");
        return sweep_result::resweep;
      }
      r.pid = pid;
      ctx.out.push_back(r);  // ours or an orphan: the core tells them apart
    }
    return sweep_result::more;
  }

  void close(os_calls& os, error_sink& errors) noexcept override {
    release_claim();
    if (subreaper_set_) {
      subreaper_set_ = false;
      if (int r = os.set_child_subreaper(0); r < 0) {
        errors.report(r, "prctl(PR_SET_CHILD_SUBREAPER, 0)");
      }
    }
  }

 private:
  void release_claim() noexcept {
    if (claimed_) g_all_claimed.store(false);
    claimed_ = false;
  }

  bool claimed_ = false;
  bool subreaper_set_ = false;  // we turned PR_SET_CHILD_SUBREAPER on; close turns it off
};

}  // namespace

std::unique_ptr<exit_source> start_all_policy(const options& opts, os_calls& os,
                                              std::error_code& ec) noexcept {
  std::unique_ptr<all_policy> p;
  try {
    p = std::make_unique<all_policy>();
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return nullptr;
  }
  if (ec = p->start(opts, os); ec) return nullptr;  // the destructor releases the claim
  return p;
}

}  // namespace uvreap::detail
