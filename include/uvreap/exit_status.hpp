// SPDX-License-Identifier: MIT
// uvreap: the exit record handed to every exit callback.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

struct rusage;

#pragma GCC visibility push(default)  // the public API; the rest of the library is hidden
namespace uvreap {

namespace detail {
struct exit_status_builder;  // the library's own records (lost, a deadline's mark)
}

/// How a child ended, as far as this process can know.
enum class exit_kind : std::uint8_t {
  exited,    ///< The child called exit/_exit: `code()` is valid.
  signaled,  ///< A signal ended the child: `signal()` and `core_dumped()` are valid.
  lost,      ///< Someone else reaped the child (a foreign `waitpid(-1)`, SIGCHLD set to
             ///< SIG_IGN by other code): the status is gone. Reported so that no exit is
             ///< ever silent; `code()` and `signal()` are 0.
};

/// What holds a spawned child's whole tree — the child and everything it starts (see
/// `spawn_options::tree`). An exit record says which applied.
enum class tree : std::uint8_t {
  none,           ///< Nothing: the child alone is signalled and waited for.
  cgroup,         ///< A cgroup v2 of the child's own, entered at birth: nothing escapes.
  process_group,  ///< A new process group: whatever calls setsid (or setpgid) escapes.
  automatic,      ///< `cgroup` when the reaper can make one, else `process_group`.
};

/// What the child's tree was when the child exited (`exit_status::tree_info`).
struct tree_report {
  /// What held the tree: none, cgroup or process_group (`automatic` resolves to one).
  uvreap::tree applied = uvreap::tree::none;
  /// With `cgroup`: how many other processes of the tree were alive when the child exited
  /// (each was then killed, and the callback waited for them). -1 otherwise.
  int descendants_at_exit = -1;
  /// With `cgroup`: the CPU time of every process that was ever in the tree, the child
  /// included (`cpu.stat`). -1 otherwise.
  std::chrono::microseconds cpu{-1};
  /// With `cgroup` where its hierarchy has the memory controller: the tree's peak memory
  /// (`memory.peak`), bytes. -1 otherwise.
  long long memory_peak = -1;
};

/// What confined a child spawned with `spawn_options::sandbox` (`exit_status::
/// sandbox_info`). With `sandbox_options::best_effort` a rule the kernel cannot enforce is
/// left out instead of failing the spawn: this says which were applied.
struct sandbox_report {
  bool requested = false;     ///< spawned with a sandbox (all below false otherwise)
  int landlock_abi = 0;       ///< the kernel's Landlock ABI version (0: no Landlock)
  bool no_new_privs = false;  ///< PR_SET_NO_NEW_PRIVS (always, with a sandbox)
  bool filesystem = false;    ///< the read and write rules (Landlock, ABI 1)
  bool truncate = false;      ///< truncation confined to the write paths too (ABI 3)
  bool network = false;       ///< TCP bind and connect denied, as asked (ABI 4)
  bool scopes = false;        ///< the scopes asked for (ABI 6)
  bool seccomp = false;       ///< the seccomp filter
};

/// Resource usage of the reaped child, as `wait4` reports it.
struct resource_usage {
  std::chrono::microseconds user_cpu{0};    ///< ru_utime
  std::chrono::microseconds system_cpu{0};  ///< ru_stime
  /// ru_maxrss, KiB on Linux. Not the child's own peak for a small child: the kernel
  /// carries the high-water mark of the address space it was forked from into the exec'd
  /// program (fork, vfork-style clone and posix_spawn alike), so a child smaller than the
  /// spawning process reports about the spawner's RSS at the time of the spawn.
  long max_rss_kib = 0;
};

/// One reaped child. A plain value: copy it freely.
///
/// The exit code and the terminating signal are kept apart: a child killed by signal 9
/// is `signaled()` with `signal() == 9`, never "exited with 9" or "exited with 137".
class exit_status {
 public:
  /// Decodes a raw wait status (from `wait4`/`waitpid`) of a child that exited or was
  /// killed. `usage` may be null. Stopped/continued statuses are not exit statuses and
  /// must not be passed here. It also builds records for tests of code that takes them:
  /// `from_wait(pid, W_EXITCODE(3, 0), nullptr)` is "exited with code 3",
  /// `from_wait(pid, SIGKILL, nullptr)` "killed by signal 9".
  [[nodiscard]] static exit_status from_wait(pid_t pid, int raw_status,
                                             const ::rusage* usage) noexcept;

  /// The child's pid (by the time the callback runs, it may belong to another process).
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// How the child ended.
  [[nodiscard]] exit_kind kind() const noexcept { return kind_; }
  /// True when the child exited (see `code()`).
  [[nodiscard]] bool exited() const noexcept { return kind_ == exit_kind::exited; }
  /// True when a signal ended the child (see `signal()`).
  [[nodiscard]] bool signaled() const noexcept { return kind_ == exit_kind::signaled; }
  /// True when someone else took the status (see exit_kind::lost).
  [[nodiscard]] bool lost() const noexcept { return kind_ == exit_kind::lost; }
  /// Exit code 0-255 when `exited()`, else 0.
  [[nodiscard]] int code() const noexcept { return code_; }
  /// Terminating signal when `signaled()`, else 0.
  [[nodiscard]] int signal() const noexcept { return signal_; }
  /// True when `signaled()` and the kernel wrote a core dump.
  [[nodiscard]] bool core_dumped() const noexcept { return core_dumped_; }
  /// True when the child exited with code 0.
  [[nodiscard]] bool success() const noexcept { return exited() && code_ == 0; }
  /// The raw wait status (0 for `lost`).
  [[nodiscard]] int raw_status() const noexcept { return raw_; }
  /// CPU time and peak RSS of the child (zero when lost).
  [[nodiscard]] const resource_usage& usage() const noexcept { return usage_; }
  /// True when the child's `spawn_options::time_limit` expired and the reaper signalled
  /// it (whatever it then died of: it may have exited on its own after the signal).
  [[nodiscard]] bool deadline_fired() const noexcept { return deadline_fired_; }
  /// The child's tree at its exit: which containment applied (none for a watched child)
  /// and, for a cgroup, what it held.
  [[nodiscard]] const tree_report& tree_info() const noexcept { return tree_; }
  /// What confined the child (`spawn_options::sandbox`); `requested` false without one.
  [[nodiscard]] const sandbox_report& sandbox_info() const noexcept { return sandbox_; }

 private:
  friend struct detail::exit_status_builder;

  pid_t pid_ = 0;
  exit_kind kind_ = exit_kind::lost;
  bool core_dumped_ = false;
  bool deadline_fired_ = false;
  int code_ = 0;
  int signal_ = 0;
  int raw_ = 0;
  resource_usage usage_{};
  tree_report tree_{};
  sandbox_report sandbox_{};
};

/// "none", "cgroup", "process_group" or "automatic".
[[nodiscard]] std::string_view to_string(uvreap::tree t) noexcept;
/// "exited", "signaled" or "lost".
[[nodiscard]] std::string_view to_string(exit_kind k) noexcept;
/// One line for logs: "pid 42 exited with code 3", "pid 42 killed by signal 9 (core
/// dumped)", "pid 42 lost (reaped elsewhere)"; " after its deadline" is appended when
/// `deadline_fired()`, and " (N descendants killed)" when a cgroup tree had any left.
[[nodiscard]] std::string to_string(const exit_status& s);

std::ostream& operator<<(std::ostream& os, exit_kind k);
std::ostream& operator<<(std::ostream& os, uvreap::tree t);
std::ostream& operator<<(std::ostream& os, const exit_status& s);

}  // namespace uvreap
#pragma GCC visibility pop
