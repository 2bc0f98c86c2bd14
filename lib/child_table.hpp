// SPDX-License-Identifier: MIT
// uvreap (private): pid -> exit callback, O(1) insert/find/erase, dense iteration.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "terminal.hpp"
#include "tree.hpp"
#include "uvreap/exit_status.hpp"
#include "uvreap/reaper_options.hpp"  // uvreap::exit_callback

namespace uvreap::detail {

/// The children a reaper owns.
///
/// Entries live densely in one vector (so a fallback scan walks exactly the live
/// children, never empty buckets); an open-addressing index with linear probing maps a
/// pid to its position. Lookups never allocate; `insert` allocates only when it grows,
/// and never after `reserve(size() + 1)`, which is how the reaper makes the insert that
/// follows a successful spawn unable to fail.
class child_table {
 public:
  struct entry {
    pid_t pid;
    exit_callback callback;
    int pidfd = -1;                     ///< policy pidfd: the child's pidfd, -1 when it has none
    std::uint32_t deadline_serial = 0;  ///< non-zero while a time limit is pending
    bool deadline_fired = false;        ///< the time limit expired and a signal was sent
    std::unique_ptr<tree_birth> tree;   ///< what holds its tree; null for tree::none
    std::unique_ptr<terminal_hold> terminal;  ///< its pty (spawn_options::terminal)
    std::uint16_t sandbox = 0;  ///< what confines it (sandbox.hpp's pack), 0: nothing
  };

  child_table();

  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }

  /// Makes room for `n` entries (throws std::bad_alloc).
  void reserve(std::size_t n);

  /// Adds `pid`; false when it is already present (the table is then unchanged).
  /// Throws std::bad_alloc only when it must grow and cannot.
  bool insert(pid_t pid, exit_callback callback, int pidfd = -1);

  /// The entry of `pid`, or null.
  [[nodiscard]] entry* find(pid_t pid) noexcept;
  [[nodiscard]] const entry* find(pid_t pid) const noexcept;
  [[nodiscard]] bool contains(pid_t pid) const noexcept { return locate(pid) != npos; }

  /// Removes `pid` and returns its callback (empty if absent); with `rest`, also hands
  /// back the entry's other fields (`rest->callback` is left empty). One probe of the
  /// index.
  exit_callback take(pid_t pid, entry* rest = nullptr) noexcept;

  /// Dense access for scans: entries 0..size()-1, in no particular order.
  [[nodiscard]] entry& at(std::size_t i) noexcept { return items_[i]; }
  [[nodiscard]] const entry& at(std::size_t i) const noexcept { return items_[i]; }
  /// Removes entry i; the last entry moves into its place.
  exit_callback take_at(std::size_t i) noexcept;

  void clear() noexcept;

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  [[nodiscard]] std::size_t home(pid_t pid) const noexcept;
  /// Slot index holding `pid`, or npos.
  [[nodiscard]] std::size_t locate(pid_t pid) const noexcept;
  void rehash(std::size_t slot_count);
  void erase_slot(std::size_t slot) noexcept;

  std::vector<entry> items_;
  // 0 = empty; otherwise index into items_ plus one.
  std::vector<std::uint32_t> slots_;
  std::size_t mask_ = 0;
};

}  // namespace uvreap::detail
