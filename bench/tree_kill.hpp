// SPDX-License-Identifier: MIT
// uvreap-bench --kill-tree: how long killing a whole tree takes, to its exit callback.
#pragma once

#include <cstdint>
#include <ostream>

namespace uvreap::bench {

/// `repeat` times for each of tree::cgroup and tree::process_group: a child forks `n`
/// sleeping processes and says so; then the time from `reaper::kill_tree(pid, SIGKILL)`
/// to the child's exit callback (for a cgroup, the callback waits until the cgroup is
/// empty; for a group, the SIGKILL is sent and the callback runs at the child's exit).
/// Prints the medians and the extremes. Returns the process exit status (1 on a failure,
/// with why; a tree that cannot be made here is reported as skipped).
int run_kill_tree(std::ostream& os, std::uint32_t n, int repeat);

}  // namespace uvreap::bench
