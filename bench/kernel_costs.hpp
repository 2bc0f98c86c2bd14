// SPDX-License-Identifier: MIT
// uvreap-bench --kernel-costs: the kernel's share of each reaping step, measured alone.
#pragma once

#include <cstdint>
#include <ostream>

namespace uvreap::bench {

/// Measures, over `n` exited children per step and `repeat` repetitions, the parent's CPU
/// for each reaping step (wait4 by pid, epoll_wait over pidfds, closing a pidfd) and for
/// one P_ALL wait with 0, k/10 and k older children alive; prints the medians.
/// Returns the process exit status (1 when a step failed, with why).
int run_kernel_costs(std::ostream& os, std::uint32_t n, std::uint32_t k, int repeat);

}  // namespace uvreap::bench
