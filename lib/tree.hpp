// SPDX-License-Identifier: MIT
// uvreap (private): what holds a spawned child's whole tree — the reaper's cgroup home
// with its pool of empty cgroups, and what a spawn prepares for its child before the clone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "cgroup.hpp"
#include "uvreap/exit_status.hpp"

namespace uvreap::detail {

/// One cgroup of the reaper's home, used by one tree after another while it is empty
/// between them. It holds no fd while a tree lives in it (10,000 trees cost no fds):
/// its files are read by path when the tree's child exits. Destroying it removes the
/// directory (if empty).
struct cgroup_slot {
  cgroup::directory dir;
  /// cpu.stat's usage when the slot was last found empty: a tree's CPU is what it added.
  std::chrono::microseconds cpu_base{0};
};

/// A spawn's tree, made on the spawning thread before the clone: for `tree::cgroup` an
/// empty cgroup of the reaper's home and an fd of it for clone3 (closed after the clone).
/// If the child never starts, the cgroup is removed. Moves only.
struct tree_birth {
  uvreap::tree applied = uvreap::tree::none;
  bool automatic = false;  ///< asked for tree::automatic: a refused clone3 takes a group
  std::unique_ptr<cgroup_slot> slot;
  int fd = -1;  ///< the slot's O_DIRECTORY fd, for CLONE_INTO_CGROUP, until close_fd()

  tree_birth() = default;
  tree_birth(tree_birth&& o) noexcept
      : applied(o.applied), automatic(o.automatic), slot(std::move(o.slot)), fd(o.fd) {
    o.applied = uvreap::tree::none;
    o.fd = -1;
  }
  tree_birth& operator=(tree_birth&& o) noexcept;
  tree_birth(const tree_birth&) = delete;
  tree_birth& operator=(const tree_birth&) = delete;
  ~tree_birth() { close_fd(); }

  /// The fd is needed only by the clone.
  void close_fd() noexcept;
  /// A process group instead (tree::automatic when clone3 is refused).
  void fall_back_to_group() noexcept;
};

/// The reaper's cgroup v2 directory: made at the first spawn that asks for a cgroup, from
/// any thread (once; a failure is remembered with its reason), removed at close. Each
/// cgroup child is born in a cgroup of its own inside it, taken from a pool of empty ones
/// (mkdir and rmdir of a cgroup cost the parent about 25 µs each: a cgroup is made only
/// when the pool is empty, and kept for the next tree once it is empty again).
class tree_home {
 public:
  /// `parent`: where the home goes (empty: this process's own cgroup).
  explicit tree_home(std::string parent) : parent_(std::move(parent)) {}
  tree_home(const tree_home&) = delete;
  tree_home& operator=(const tree_home&) = delete;

  /// Prepares `birth` for a child spawned with `mode` (any thread): nothing for none; a
  /// process group; or an empty cgroup. `automatic` falls back to a process group when
  /// the home cannot be made; `cgroup` reports why not (what mkdir reported, ENOENT
  /// without a v2 hierarchy, ENOTSUP without cgroup.kill).
  std::error_code prepare(uvreap::tree mode, tree_birth& birth) noexcept;

  /// Makes the home if it is not made yet. `why`, when not null, gets the reason in words
  /// on failure, or the home's path.
  std::error_code ready(std::string* why) noexcept;

  /// A slot whose tree is over (empty): kept for the next one, or removed when the pool
  /// is full or the slot cannot be reused (its memory.peak would carry over).
  void give_back(std::unique_ptr<cgroup_slot> slot) noexcept;

  /// Whether the home's cgroups have memory.peak (the memory controller is on). Read only
  /// by one who got a slot (after the home was made).
  [[nodiscard]] bool has_memory_peak() const noexcept { return has_memory_peak_; }

  /// At close: removes the pool and the home. EBUSY (left in place) while a tree left
  /// running is in it.
  std::error_code remove() noexcept;

 private:
  std::error_code make_home() noexcept;  // under m_
  std::error_code make_slot(std::unique_ptr<cgroup_slot>& out) noexcept;

  static constexpr std::size_t kPoolMax = 64;

  const std::string parent_;
  std::mutex m_;
  bool tried_ = false;  // under m_: made, or failed for good (error_, why_)
  std::error_code error_;
  std::string why_;
  cgroup::directory home_;
  bool has_memory_peak_ = false;  // the memory controller is on: slots are not reused
  std::vector<std::unique_ptr<cgroup_slot>> pool_;  // under m_
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace uvreap::detail
