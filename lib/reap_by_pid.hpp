// SPDX-License-Identifier: MIT
// uvreap (private): what a policy reaped, and reaping one pid.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <vector>

#include "os_calls.hpp"

namespace uvreap::detail {

/// One child a sweep reaped, or found reaped by someone else (`lost`: its status is gone).
struct reaped {
  pid_t pid;
  int status;  ///< the raw wait status (not for `lost`)
  ::rusage usage;
  bool lost;
};

enum class reap_outcome {
  reaped,   ///< appended to the list (exited, or lost: ECHILD, someone else took it)
  running,  ///< not exited (or not waitable by us yet: a traced child)
  failed,   ///< wait4 failed otherwise; *err is the -errno
};

/// `wait4(pid, WNOHANG)` for one child this process owns. ECHILD means the pid is no
/// longer our child: a foreign waitpid(-1) or an auto-reaping disposition took its
/// status. Its callback must still run, once, so that is appended as `lost`.
reap_outcome reap_by_pid(os_calls& os, pid_t pid, std::vector<reaped>& out, int* err) noexcept;

}  // namespace uvreap::detail
