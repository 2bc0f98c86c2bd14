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
/// between them. Up to `tree_home::kFdSlots` slots at a time keep fds of it (the
/// directory, cgroup.events, cpu.stat: pread at offset 0 regenerates a cgroup file, 1 µs
/// against 6 µs for open, read and close); the others hold none, so 10,000 trees cost no
/// fds, and are read by path. Destroying it closes its fds and removes the directory (if
/// empty).
struct cgroup_slot {
  cgroup::directory dir;
  int dir_fd = -1;
  int events_fd = -1;
  int cpu_fd = -1;
  std::atomic<int>* fd_budget = nullptr;  ///< given back when a slot with fds goes
  /// cpu.stat's usage when the slot was last found empty: a tree's CPU is what it added.
  std::chrono::microseconds cpu_base{0};
  /// Killed through cgroup.kill once: never reused. (Linux 6.18 kills every child later
  /// born into such a cgroup with CLONE_INTO_CGROUP: the fork compares the cgroup's kill
  /// count with the parent's cgroup's.)
  bool killed = false;

  cgroup_slot() = default;
  cgroup_slot(const cgroup_slot&) = delete;
  cgroup_slot& operator=(const cgroup_slot&) = delete;
  ~cgroup_slot();

  /// "populated" from cgroup.events.
  std::error_code populated(bool& yes) const noexcept;
  /// usage_usec from cpu.stat.
  std::error_code cpu_usage(std::chrono::microseconds& usage) const noexcept;
};

/// A spawn's tree, made on the spawning thread before the clone: for `tree::cgroup` an
/// empty cgroup of the reaper's home and an fd of it for clone3 (closed after the clone).
/// If the child never starts, the cgroup is removed. Moves only.
struct tree_birth {
  uvreap::tree applied = uvreap::tree::none;
  bool automatic = false;  ///< asked for tree::automatic: a refused clone3 takes a group
  std::unique_ptr<cgroup_slot> slot;
  int fd = -1;  ///< an O_DIRECTORY fd for CLONE_INTO_CGROUP: the slot's, or one of its own
  bool own_fd = false;  ///< `fd` is closed by close_fd() (the slot keeps no fd)

  tree_birth() = default;
  tree_birth(tree_birth&& o) noexcept
      : applied(o.applied), automatic(o.automatic), slot(std::move(o.slot)), fd(o.fd),
        own_fd(o.own_fd) {
    o.applied = uvreap::tree::none;
    o.fd = -1;
    o.own_fd = false;
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
  /// is full or the slot cannot be reused (its memory.peak would carry over, or it was
  /// killed through cgroup.kill).
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

 public:
  /// Slots that keep their fds at once (3 each).
  static constexpr int kFdSlots = 64;

 private:
  std::atomic<int> fd_budget_{kFdSlots};

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
