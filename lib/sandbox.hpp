// SPDX-License-Identifier: MIT
// uvreap (private): a child's sandbox as the parent prepares it (spawn_options::sandbox):
// the Landlock ruleset with its rules, and the seccomp filter. The child only applies
// them (spawn_child.cpp).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "uvreap/exit_status.hpp"
#include "uvreap/spawn_options.hpp"

namespace uvreap::detail {

class os_calls;

/// What `build_sandbox` made for one child.
struct sandbox_build {
  int ruleset_fd = -1;                ///< a Landlock ruleset (-1: none), the caller's to close
  std::vector<::sock_filter> filter;  ///< the seccomp program (empty: none)
  sandbox_report report;              ///< what will be applied
};

/// Validates `o`, asks the seam for the Landlock ABI, makes the ruleset (one rule per
/// path) and the filter. Errors: ENOTSUP for a rule the kernel cannot enforce (unless
/// `best_effort`), with `why` (when not null) naming it; ENOENT, EACCES, ... for a path
/// that cannot be opened (`why`: which); EINVAL for an empty path, a NUL byte or a syscall
/// number outside 0-1023; what landlock_create_ruleset or landlock_add_rule reported.
/// Nothing is left open on failure.
std::error_code build_sandbox(const sandbox_options& o, os_calls& os, sandbox_build& out,
                              std::string* why);

/// A report in 16 bits, as the child table keeps it (0: no sandbox).
std::uint16_t pack(const sandbox_report& r) noexcept;
sandbox_report unpack(std::uint16_t bits) noexcept;

/// The default list of syscalls the filter refuses, by number (x86-64).
const std::vector<int>& default_denied_syscalls();

}  // namespace uvreap::detail
