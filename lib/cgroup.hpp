// SPDX-License-Identifier: MIT
// uvreap (private): cgroup v2 — where the hierarchy is, this process's place in it, and a
// directory the reaper owns (made, signalled through cgroup.kill, watched, removed).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sys/types.h>

namespace uvreap::detail::cgroup {

/// The mount point of the cgroup v2 hierarchy, from the text of /proc/self/mountinfo: the
/// first mount of filesystem type "cgroup2" (`/sys/fs/cgroup` on a unified system,
/// `/sys/fs/cgroup/unified` on a hybrid one). ENOENT when there is none. Octal escapes in
/// the path (`\040` for a space) are decoded.
std::error_code find_v2_mount(std::string_view mountinfo, std::string& mount_point);

/// This process's v2 cgroup, relative to the hierarchy's root ("/" or "/a/b"), from the
/// text of /proc/self/cgroup (its "0::" line). ENOENT without one (a v1-only system).
std::error_code own_path(std::string_view proc_self_cgroup, std::string& path);

/// "populated" from the text of cgroup.events. EINVAL when the key is missing.
std::error_code parse_populated(std::string_view events, bool& populated);

/// "usage_usec" from the text of cpu.stat (present without the cpu controller). EINVAL
/// when the key is missing.
std::error_code parse_cpu_usage(std::string_view cpu_stat, std::chrono::microseconds& usage);

/// The v2 directory this process's children would go under by default: the hierarchy's
/// mount point joined with `own_path`, read from /proc. ENOENT (no v2 hierarchy, or this
/// process is in none), or what reading /proc reported; `why` says which in words.
std::error_code own_directory(std::string& dir, std::string& why);

/// A cgroup directory made by the library, removed by `remove` (or the destructor, which
/// ignores errors). Moves only.
class directory {
 public:
  directory() = default;
  directory(const directory&) = delete;
  directory& operator=(const directory&) = delete;
  directory(directory&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  directory& operator=(directory&& o) noexcept;
  ~directory();

  /// mkdir `parent`/`name`. EEXIST, EACCES, EROFS, ENOENT (no such parent) as mkdir
  /// reports them, and ENOTDIR/EINVAL when `parent` is not a cgroup v2 directory (it has
  /// no cgroup.procs).
  static std::error_code make(const std::string& parent, const std::string& name,
                              directory& out) noexcept;

  /// mkdir `parent`/`name` under a directory already made by `make`: one syscall.
  static std::error_code make_in(const directory& parent, const std::string& name,
                                 directory& out) noexcept;

  /// A directory made elsewhere, to read or signal; `forget` it before it goes, or it is
  /// removed.
  static directory borrow(std::string path) noexcept { return directory(std::move(path)); }
  /// Lets go without removing it.
  void forget() noexcept { path_.clear(); }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] bool made() const noexcept { return !path_.empty(); }

  /// An O_DIRECTORY|O_CLOEXEC fd of it (for clone3's CLONE_INTO_CGROUP), or -errno.
  [[nodiscard]] int open_fd() const noexcept;
  /// SIGKILL to every process in it, by writing "1" to cgroup.kill (Linux 5.14); where
  /// there is none, `kill_frozen`. ENOTSUP when it has neither cgroup.kill nor
  /// cgroup.freeze (before Linux 5.2).
  std::error_code kill() const noexcept;
  /// What cgroup.kill does, for kernels before 5.14: freeze the cgroup (5.2; a frozen
  /// process cannot fork, and SIGKILL still ends it), SIGKILL every process listed in
  /// cgroup.procs, list again until no new pid shows up (a fork that was under way when
  /// the freeze came), thaw. Not for a cgroup with sub-cgroups (the library makes none).
  std::error_code kill_frozen() const noexcept;
  /// Every process in it (cgroup.procs; not below it).
  std::error_code members(std::vector<pid_t>& pids) const noexcept;
  /// How many processes are in it (the lines of cgroup.procs).
  std::error_code count(int& n) const noexcept;
  /// Freezes (true) or thaws it (cgroup.freeze, Linux 5.2). Freezing completes
  /// asynchronously; a frozen process can still be killed, and cannot exit otherwise.
  std::error_code freeze(bool yes) const noexcept;
  /// memory.peak in bytes; ENOENT where the memory controller is not enabled for it.
  std::error_code memory_peak(long long& bytes) const noexcept;
  /// Whether any process is in it or below (cgroup.events).
  std::error_code populated(bool& yes) const noexcept;
  /// CPU time of every process that has been in it (cpu.stat usage_usec).
  std::error_code cpu_usage(std::chrono::microseconds& usage) const noexcept;
  /// rmdir. EBUSY while populated (or while it has sub-cgroups); made() is false after.
  std::error_code remove() noexcept;

 private:
  explicit directory(std::string path) : path_(std::move(path)) {}
  std::error_code read_file(const char* name, std::string& text) const noexcept;
  std::error_code write_file(const char* name, std::string_view text) const noexcept;
  std::string path_;
};

}  // namespace uvreap::detail::cgroup
