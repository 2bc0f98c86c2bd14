// SPDX-License-Identifier: MIT
// uvreap (private): turns spawn_options into a child — validation, the parent's half of
// the fds (copies, pipes), the spawn engine or posix_spawn, and the pipes' parent ends.
#pragma once

#include <spawn.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "os_calls.hpp"
#include "sandbox.hpp"
#include "spawn_child.hpp"
#include "terminal.hpp"
#include "uvreap/spawn_options.hpp"

namespace uvreap::detail {

/// One spawn, from options to a running child. `prepare` validates the options and
/// makes the parent's half of the fds; `start` makes the child; `finish` hands the
/// pipes' parent ends to their `uv_pipe_t`s. Whatever is still open when the plan is
/// destroyed (copies, the child's pipe ends, and every pipe end after a failed start)
/// is closed then. It borrows the options' strings, which must outlive it.
///
/// Every syscall of the parent goes through the `os_calls` given to `prepare`, counted
/// once there (the reaper's own on the loop thread, a local set on another thread); the
/// child's own steps are raw syscalls (spawn_child.cpp). The plan and its `os_calls` are
/// used on one thread at a time.
class spawn_plan {
 public:
  spawn_plan() = default;
  spawn_plan(const spawn_plan&) = delete;
  spawn_plan& operator=(const spawn_plan&) = delete;
  ~spawn_plan();

  /// Validates `opts` and makes the parent's fds (and the terminal). Errors: EINVAL (empty
  /// argv, NUL bytes, an env entry without '=', new_session with new_process_group, a bad
  /// terminal, a bad time_limit,
  /// rlimit, umask, signal or stdio entry, a pipe handle that is not an unopened
  /// `uv_pipe_t` or is named twice, more than 1,024 fds), EBADF (a stdio fd or stream
  /// that is not open), ENOMEM, or what pipe2/socketpair/fcntl or opening the pty
  /// reported (EMFILE, ENOSPC, ...).
  [[nodiscard]] std::error_code prepare(const spawn_options& opts, os_calls& os) noexcept;

  /// Between `prepare` and `start`: the child is born in the cgroup open as `cgroup_fd`
  /// (-1: the parent's), and with `own_group` leads a new process group (unless it makes a
  /// session, which does that already). Called again before another `start` to change it.
  void contain(int cgroup_fd, bool own_group) noexcept;

  /// Makes the child: the engine, or posix_spawn on a kernel without the engine's calls
  /// (ENOSYS when the options need what posix_spawn cannot do). The pid, or -errno;
  /// `*pidfd` is its pidfd from clone when `want_pidfd` and the kernel gave one, else -1.
  pid_t start(bool want_pidfd, int* pidfd) noexcept;

  /// After a successful start, on the thread that owns the pipes' loop: closes the
  /// child's ends and opens each pipe handle on the parent's end. Returns the first
  /// error of `uv_pipe_open` (that pipe's fd is closed: the child sees EOF or EPIPE).
  int finish() noexcept;

  /// Which step of the child failed in the last `start` (none when it succeeded).
  [[nodiscard]] child_step failed_step() const noexcept { return recipe_.failed_step; }

  /// The child's terminal (`spawn_options::terminal`) as `prepare` opened it, for the
  /// reaper to keep: taken after `start` (or before it, by a holder that outlives it),
  /// as the slave must stay open until the child has it. Null without a terminal.
  [[nodiscard]] std::unique_ptr<terminal_hold> take_terminal() noexcept {
    return std::move(terminal_);
  }

  /// What the child's sandbox will apply (`requested` false without one), packed.
  [[nodiscard]] std::uint16_t sandbox() const noexcept { return sandbox_bits_; }

  /// What the child will do: the fd moves, paths and identity `prepare` planned.
  [[nodiscard]] const child_recipe& recipe() const noexcept { return recipe_; }

 private:
  struct pipe_end {
    uv_pipe_t* handle = nullptr;
    int parent_fd = -1;
  };

  std::error_code build(const spawn_options& opts);
  std::error_code validate(const spawn_options& opts) const;
  std::error_code plan_fds(const spawn_options& opts);
  std::error_code open_terminal(const terminal_options& t);
  std::error_code plan_sandbox(const sandbox_options& s);
  std::error_code plan_paths(const spawn_options& opts);
  void plan_identity(const spawn_options& opts);
  int source_above(int fd, int n);
  pid_t posix_fallback() noexcept;
  std::error_code build_posix();
  void close_fd(int& fd) noexcept;

  os_calls* os_ = nullptr;

  std::vector<char*> argv_;
  std::vector<char*> shell_argv_;
  std::vector<char*> env_;
  char* const* envp_ = nullptr;
  const char* file_ = nullptr;
  bool search_path_ = false;
  const char* cwd_ = nullptr;
  std::vector<std::string> path_storage_;
  std::vector<const char*> paths_;

  std::vector<fd_move> moves_;
  std::vector<int> owned_fds_;  // copies and the child's pipe ends: closed by the plan
  std::vector<pipe_end> pipes_;
  std::vector<rlimit_entry> rlimits_;
  std::vector<gid_t> groups_;
  bool needs_engine_ = false;  // options posix_spawn cannot carry out
  std::unique_ptr<terminal_hold> terminal_;
  std::vector<::sock_filter> filter_;  // the sandbox's seccomp program
  ::sock_fprog program_{};
  std::uint16_t sandbox_bits_ = 0;
  struct {
    int* to = nullptr;
    int fd = -1;
  } master_out_;  // terminal_options::master_fd: the master, handed over by finish

  child_recipe recipe_{};

  posix_spawn_file_actions_t actions_{};
  posix_spawnattr_t attr_{};
  bool actions_init_ = false;
  bool attr_init_ = false;
};

}  // namespace uvreap::detail
