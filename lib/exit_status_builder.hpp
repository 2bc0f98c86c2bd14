// SPDX-License-Identifier: MIT
// uvreap (private): exit records only the library makes — a lost child, a deadline's
// mark — and the plain ones its tests build.
#pragma once

#include <sys/types.h>

#include "uvreap/exit_status.hpp"

namespace uvreap::detail {

struct __attribute__((visibility("hidden"))) exit_status_builder {
  /// A child whose status was taken by someone else (see exit_kind::lost).
  static exit_status lost(pid_t pid) noexcept;
  static exit_status exited(pid_t pid, int code) noexcept;
  static exit_status signaled(pid_t pid, int signal, bool core_dumped) noexcept;
  /// `s` with `deadline_fired()` set to `fired`.
  static exit_status with_deadline_fired(exit_status s, bool fired) noexcept {
    s.deadline_fired_ = fired;
    return s;
  }
  /// `s` with its sandbox report.
  static exit_status with_sandbox(exit_status s, const sandbox_report& r) noexcept {
    s.sandbox_ = r;
    return s;
  }
  /// `s` with its tree report.
  static exit_status with_tree(exit_status s, const tree_report& t) noexcept {
    s.tree_ = t;
    return s;
  }
};

}  // namespace uvreap::detail
