// SPDX-License-Identifier: MIT
// uvreap-bench: the memory the harness shares with its children, and the children's body.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <string>

namespace uvreap::bench {

/// What a child waits for before it stamps its exit time and exits.
enum class role : int {
  burst = 0,       ///< the shared burst barrier
  stream = 1,      ///< its own slot's `go` word (set once the parent has registered it)
  background = 2,  ///< the background barrier; exits without stamping (not measured)
  at_once = 3,     ///< nothing: stamps and exits at once (bench/node, where registration is synchronous)
};

// One cache line per child so that children stamping at once do not share lines.
struct alignas(64) slot {
  std::atomic<std::uint32_t> go;
  std::atomic<std::uint64_t> exit_ns;  // CLOCK_MONOTONIC, written just before _exit
};

struct alignas(64) header {
  std::atomic<std::uint32_t> burst_release;
  std::atomic<std::uint32_t> background_release;
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

inline std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Shared (not private) futexes: the words live in a MAP_SHARED mapping that children of
// both kinds (forked, or exec'd and mapping the same memfd) wait on.
inline void futex_wait_while_zero(std::atomic<std::uint32_t>& word) noexcept {
  while (word.load(std::memory_order_acquire) == 0) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, 0, nullptr, nullptr,
              0);
  }
}

inline void futex_release(std::atomic<std::uint32_t>& word) noexcept {
  word.store(1, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
            nullptr, 0);
}

/// The exit code a measured child uses, so the parent can check it got the right one.
constexpr int expected_code(std::uint32_t index) noexcept {
  return static_cast<int>(index % 128);
}

/// A child's whole life after fork or exec: wait, stamp, exit. Async-signal-safe only.
[[noreturn]] inline void child_body(header* h, slot* slots, role r, std::uint32_t index) noexcept {
  switch (r) {
    case role::burst:
      futex_wait_while_zero(h->burst_release);
      break;
    case role::stream:
      futex_wait_while_zero(slots[index].go);
      break;
    case role::background:
      futex_wait_while_zero(h->background_release);
      ::_exit(0);
    case role::at_once:
      break;
  }
  slots[index].exit_ns.store(now_ns(), std::memory_order_release);
  ::_exit(expected_code(index));
}

/// The mapping: a memfd, so exec'd helpers can map it by path (/proc/<pid>/fd/<n>).
class shared_area {
 public:
  explicit shared_area(std::uint32_t slot_count);
  ~shared_area();
  shared_area(const shared_area&) = delete;
  shared_area& operator=(const shared_area&) = delete;

  /// Zeroes every word (before each run).
  void reset() noexcept;
  [[nodiscard]] header* head() const noexcept { return head_; }
  [[nodiscard]] slot* slots() const noexcept { return slots_; }
  [[nodiscard]] std::uint32_t slot_count() const noexcept { return count_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  header* head_ = nullptr;
  slot* slots_ = nullptr;
  std::uint32_t count_ = 0;
  std::string path_;
};

/// Maps an area created by the parent (in an exec'd helper). Null on failure.
void* map_existing(const char* path, std::size_t* size) noexcept;

}  // namespace uvreap::bench
