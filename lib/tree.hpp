// SPDX-License-Identifier: MIT
// uvreap (private): what holds a spawned child's whole tree — the reaper's cgroup home,
// and what a spawn prepares for its child before the clone.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>

#include "cgroup.hpp"
#include "uvreap/exit_status.hpp"

namespace uvreap::detail {

/// A spawn's tree, made on the spawning thread before the clone: for `tree::cgroup` a
/// directory of the child's own and its fd (for CLONE_INTO_CGROUP). If the child never
/// starts, destroying it removes the directory. Moves only.
struct tree_birth {
  uvreap::tree applied = uvreap::tree::none;
  bool automatic = false;  ///< asked for tree::automatic: a refused clone3 takes a group
  cgroup::directory dir;
  int fd = -1;

  tree_birth() = default;
  tree_birth(tree_birth&& o) noexcept
      : applied(o.applied), automatic(o.automatic), dir(std::move(o.dir)), fd(o.fd) {
    o.applied = uvreap::tree::none;
    o.fd = -1;
  }
  tree_birth& operator=(tree_birth&& o) noexcept;
  tree_birth(const tree_birth&) = delete;
  tree_birth& operator=(const tree_birth&) = delete;
  ~tree_birth() { close_fd(); }

  /// The fd is needed only by the clone.
  void close_fd() noexcept;
  /// A process group instead (tree::automatic when clone3 is refused): the directory goes.
  void fall_back_to_group() noexcept;
};

/// The reaper's cgroup v2 directory: made at the first spawn that asks for a cgroup, from
/// any thread (once; a failure is remembered with its reason), removed at close.
class tree_home {
 public:
  /// `parent`: where the home goes (empty: this process's own cgroup).
  explicit tree_home(std::string parent) : parent_(std::move(parent)) {}
  tree_home(const tree_home&) = delete;
  tree_home& operator=(const tree_home&) = delete;

  /// Prepares `birth` for a child spawned with `mode` (any thread): nothing for none; a
  /// process group; or a new directory in the home and its fd. `automatic` falls back to
  /// a process group when the home cannot be made; `cgroup` reports why not (what mkdir
  /// reported, ENOENT without a v2 hierarchy, ENOTSUP without cgroup.kill).
  std::error_code prepare(uvreap::tree mode, tree_birth& birth) noexcept;

  /// Makes the home if it is not made yet. `why`, when not null, gets the reason in words
  /// on failure, or the home's path.
  std::error_code ready(std::string* why) noexcept;

  /// At close: removes the home. EBUSY (left in place) while a tree left running is in it.
  std::error_code remove() noexcept;

 private:
  std::error_code make_home() noexcept;  // under m_

  const std::string parent_;
  std::mutex m_;
  bool tried_ = false;  // under m_: made, or failed for good (error_, why_)
  std::error_code error_;
  std::string why_;
  cgroup::directory home_;
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace uvreap::detail
