// SPDX-License-Identifier: MIT
// uvreap (private): what the three policies share — defaults, the choice, the scan.
#include "policy.hpp"

#include "errno_code.hpp"

namespace uvreap::detail {

adoption exit_source::adopted(pid_t /*pid*/, int /*pidfd*/, os_calls& /*os*/) noexcept {
  return {};
}
void exit_source::released(pid_t /*pid*/, int /*pidfd*/, os_calls& /*os*/,
                           error_sink& /*errors*/) noexcept {}
void exit_source::close(os_calls& /*os*/, error_sink& /*errors*/) noexcept {}

std::unique_ptr<exit_source> start_policy(const options& opts, os_calls& os, error_sink& /*errors*/,
                                          std::error_code& ec) noexcept {
  switch (opts.reap_policy) {
    case policy::all:
      return start_all_policy(opts, os, ec);
    case policy::pidfd: {
      auto p = start_pidfd_policy(opts, os, ec);
      if (ec == std::errc::function_not_supported) {
        ec.clear();
        return start_own_policy(ec);  // documented fallback for kernels before 5.3
      }
      return p;
    }
    case policy::own:
      break;
  }
  return start_own_policy(ec);
}

sweep_result scan_by_pid(sweep_context& ctx) noexcept {
  for (std::size_t i = 0; i < ctx.table.size(); ++i) {
    if (ctx.out.size() >= ctx.budget) return sweep_result::more;
    int err = 0;
    if (reap_by_pid(ctx.os, ctx.table.at(i).pid, ctx.out, &err) == reap_outcome::failed) {
      ctx.errors.report(err, "wait4(pid, WNOHANG)");
      return sweep_result::resweep;
    }
  }
  return sweep_result::done;
}

sweep_result all_were_taken(sweep_context& ctx) noexcept {
  if (!ctx.out.empty()) return sweep_result::more;
  for (std::size_t i = 0; i < ctx.table.size(); ++i) {
    if (ctx.out.size() >= ctx.budget) return sweep_result::more;
    ctx.out.push_back(reaped{ctx.table.at(i).pid, 0, {}, true});
  }
  return sweep_result::done;
}

}  // namespace uvreap::detail
