// SPDX-License-Identifier: MIT
// uvreap (private): turns spawn_options into posix_spawn's arguments.
#pragma once

#include <spawn.h>

#include <system_error>
#include <vector>

#include "uvreap/spawn_options.hpp"
#include "uvreap/sys.hpp"

namespace uvreap::detail {

/// Everything posix_spawn needs, validated. Build it with `prepare`, then pass its
/// pieces to `sys::interface::spawn`. It borrows the strings of the options it was
/// prepared from, which must outlive it. Not copyable: posix_spawn's attribute and
/// file-action objects must not be copied.
class spawn_plan {
 public:
  spawn_plan() = default;
  spawn_plan(const spawn_plan&) = delete;
  spawn_plan& operator=(const spawn_plan&) = delete;
  ~spawn_plan();

  /// Validates `opts` and fills the plan. Errors: EINVAL (empty argv, NUL bytes, an env
  /// entry without '=', new_session with new_process_group, a time_limit that is not
  /// positive, has a bad signal or asks for a group the child will not have), EBADF (a negative
  /// stdio fd), ENOMEM, or what fcntl/posix_spawn_* setup reported.
  /// The fd checks and copies it makes go through `os`, which must outlive the plan.
  [[nodiscard]] std::error_code prepare(const spawn_options& opts, sys::interface& os) noexcept;

  [[nodiscard]] const char* file() const noexcept { return file_; }
  [[nodiscard]] bool search_path() const noexcept { return search_path_; }
  [[nodiscard]] const posix_spawn_file_actions_t* actions() const noexcept { return &actions_; }
  [[nodiscard]] const posix_spawnattr_t* attr() const noexcept { return &attr_; }
  [[nodiscard]] char* const* argv() const noexcept { return argv_.data(); }
  [[nodiscard]] char* const* envp() const noexcept { return envp_; }

 private:
  std::error_code build(const spawn_options& opts);

  std::vector<char*> argv_;
  std::vector<char*> env_;
  char* const* envp_ = nullptr;
  const char* file_ = nullptr;
  bool search_path_ = false;
  posix_spawn_file_actions_t actions_{};
  posix_spawnattr_t attr_{};
  bool actions_init_ = false;
  bool attr_init_ = false;
  std::vector<int> temp_fds_;  // parent-side duplicates closed by the destructor
  sys::interface* os_ = nullptr;
};

}  // namespace uvreap::detail
