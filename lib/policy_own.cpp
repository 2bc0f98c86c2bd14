// SPDX-License-Identifier: MIT
// uvreap (private): policy own — reap only the pids given, found by peeking at the
// oldest zombie.
//
// What the kernel does not promise, and how this copes:
// - SIGCHLD says only that some child may have changed state, and several exits raise
//   one signal: each sweep peeks until nothing waitable is left.
// - `waitid(P_ALL, WNOWAIT)` always returns the *oldest* waitable child. A zombie that
//   belongs to someone else (uv_spawn, another reaper, the program) therefore hides ours
//   until its owner reaps it: then this sweep asks for each of ours by pid instead —
//   O(owned children) for as long as the foreign zombie stays, counted in
//   stats::fallback_scans.
// - ECHILD from the peek means the process has no child at all, yet the table holds
//   some: someone else took their statuses (a foreign waitpid(-1), SIGCHLD set to
//   SIG_IGN). Each is delivered once as lost.
#include <sys/wait.h>

#include "errno_code.hpp"
#include "policy.hpp"

namespace uvreap::detail {

namespace {

class own_policy final : public exit_source {
 public:
  policy kind() const noexcept override { return policy::own; }

  sweep_result collect(sweep_context& ctx) noexcept override {
    if (ctx.table.empty()) return sweep_result::done;
    if (ctx.kind == sweep_kind::safety_poll) {
      // A poll asks for each owned pid by number (O(owned)): the only way to notice,
      // while other children are alive, that someone else reaped one of ours.
      return scan_by_pid(ctx);  // counted in stats::poll_sweeps, not as a fallback
    }
    while (ctx.out.size() < ctx.budget) {
      // Peek at the oldest waitable child without reaping it: if it is ours we take it
      // by pid; if not we leave it to its owner.
      siginfo_t si{};
      const int r = ctx.os.waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
      if (r == -ECHILD) return all_were_taken(ctx);
      if (r < 0) {
        ctx.errors.report(r, "waitid(P_ALL, WNOWAIT)");
        return sweep_result::resweep;
      }
      if (si.si_pid == 0) return sweep_result::done;  // nothing has exited
      if (!ctx.table.contains(si.si_pid)) {
        // A child spawned on another thread, not registered yet? Then the wake-up of its
        // queueing sweeps again (the protocol and its bound: thread_inbox.hpp). Without
        // this, every such child would cost a wait4 per owned pid.
        if (ctx.coming != nullptr && ctx.coming->may_be_coming(si.si_pid)) {
          ctx.deferred = true;
          return sweep_result::done;
        }
        // The oldest zombie is foreign: ask for each of ours by pid, once per sweep.
        if (!ctx.out.empty()) return sweep_result::more;  // a whole-table step
        ++ctx.counters.fallback_scans;
        return scan_by_pid(ctx);
      }
      ++ctx.counters.fast_path_hits;
      int err = 0;
      switch (reap_by_pid(ctx.os, si.si_pid, ctx.out, &err)) {
        case reap_outcome::reaped:
          // Lost (ECHILD): someone else took it between the peek and wait4. Its pid stays
          // in the table until the core releases it, so a fresh sweep must peek again.
          if (ctx.out.back().lost) return sweep_result::more;
          break;
        case reap_outcome::running:
          return sweep_result::done;  // waitable to the peek but not to wait4: leave it
        case reap_outcome::failed:
          ctx.errors.report(err, "wait4(pid, WNOHANG)");
          return sweep_result::resweep;
      }
    }
    return sweep_result::more;
  }
};

}  // namespace

std::unique_ptr<exit_source> start_own_policy(std::error_code& ec) noexcept {
  try {
    return std::make_unique<own_policy>();
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return nullptr;
  }
}

}  // namespace uvreap::detail
