// SPDX-License-Identifier: MIT
// uvreap (private): the spawn engine — the recipe the parent prepares, the child that
// follows it between clone and exec (spawn_child.cpp), and the parent's one call that
// starts it (spawn_engine.cpp).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>

namespace uvreap::detail {

/// The steps the child takes, in this order; the one that failed is reported with its
/// errno. `clone` is the parent's own call.
enum class child_step : int {
  none = 0,
  clone,        ///< clone() in the parent
  close_range,  ///< close_range(boundary, ~0U, CLOSE_RANGE_UNSHARE): a private fd table
  signals,      ///< every disposition to default
  session,      ///< setsid() or setpgid(0, 0)
  fds,          ///< dup2 of each source onto its target, /dev/null, closing the rest
  terminal,     ///< TIOCSCTTY (a terminal of its own) or tcsetpgrp(0, the child's group)
  rlimits,      ///< setrlimit for each given resource
  umask,        ///< umask(mask); cannot fail, listed for order
  groups,       ///< setgroups
  gid,          ///< setgid
  uid,          ///< setuid
  pdeathsig,    ///< prctl(PR_SET_PDEATHSIG)
  sandbox,      ///< PR_SET_NO_NEW_PRIVS, landlock_restrict_self (spawn_options::sandbox)
  chdir,        ///< chdir(cwd), as the new user
  seccomp,      ///< the sandbox's seccomp filter, the last step before exec
  exec,         ///< execve of each candidate path
};

/// Where child fd `target` comes from.
struct fd_move {
  static constexpr int null = -1;    ///< /dev/null, opened read-write in the child
  static constexpr int closed = -2;  ///< not open in the child
  int target = 0;
  int source = closed;    ///< an fd of the parent (>= the number of targets, or == target)
  bool blocking = false;  ///< clear O_NONBLOCK once placed (the rule: uvreap::stdio's doc)
};

/// One rlimit to set.
struct rlimit_entry {
  int resource = 0;
  ::rlimit limit{};
};

/// Everything the child does, prepared in the parent so that the child only makes
/// syscalls: no allocation, no locks, no libc state. Built by `spawn_plan`; the pointers
/// borrow from it.
struct child_recipe {
  // exec: each candidate path in turn, with execvp's rules for which errors move on.
  const char* const* paths = nullptr;
  std::size_t path_count = 0;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;  ///< nullptr: stay in the parent's

  // fds: targets 0 .. move_count-1.
  const fd_move* moves = nullptr;
  int move_count = 0;
  int unshare_from = 3;  ///< above every source: the child's table keeps only fds below

  bool new_session = false;
  bool new_process_group = false;
  bool foreground = false;  ///< make the child's group the foreground group of fd 0's tty
  /// The child's fd holding its own pty's slave, made its controlling terminal
  /// (TIOCSCTTY) once the fds are placed; -1 for none. Needs `new_session`.
  int controlling_terminal = -1;

  /// execvp's fallback: a candidate that exec refuses with ENOEXEC (a script without
  /// "#!") runs as `/bin/sh path args...`; slot 1 is filled with the path in the child.
  char** shell_argv = nullptr;

  const rlimit_entry* rlimits = nullptr;
  std::size_t rlimit_count = 0;
  bool set_umask = false;
  mode_t umask = 0;
  bool set_groups = false;   ///< setgroups(groups) must succeed
  bool drop_groups = false;  ///< setgroups(0): may fail only when there is nothing to drop
  const gid_t* groups = nullptr;
  std::size_t group_count = 0;
  bool set_gid = false;
  gid_t gid = 0;
  bool set_uid = false;
  uid_t uid = 0;
  int pdeathsig = 0;

  // The sandbox (spawn_options::sandbox), built by the parent (sandbox.cpp).
  bool no_new_privs = false;               ///< PR_SET_NO_NEW_PRIVS
  int ruleset_fd = -1;                     ///< a Landlock ruleset (>= move_count), or -1
  const ::sock_fprog* seccomp = nullptr;   ///< the filter, or null

  bool want_pidfd = false;  ///< CLONE_PIDFD: the child's pidfd from clone itself
  /// A cgroup v2 directory's fd: the child is born in it (clone3 CLONE_INTO_CGROUP); -1
  /// for the parent's cgroup (plain clone).
  int cgroup_fd = -1;

  /// Test hook: the child fails `fault_step` with `fault_errno` instead of making that
  /// step's call (the steps before it run for real).
  child_step fault_step = child_step::none;
  int fault_errno = 0;

  // Written by the child before it exits; read by the parent after clone returns.
  child_step failed_step = child_step::none;
  int error = 0;
};

/// The child: follows the `child_recipe` at `recipe` and execs, or records the step that
/// failed and exits 127. What `clone` runs; never returns.
int run_child(void* recipe) noexcept;

class os_calls;

/// The engine, in the parent: clone(CLONE_VM | CLONE_VFORK | CLONE_FILES [| CLONE_PIDFD])
/// running `recipe`, through the seam in `os` (counted there). Returns the pid, or -errno
/// with `recipe.failed_step` saying where (and no child left: a child that failed is
/// reaped here). `*pidfd` is the child's pidfd or -1 (not asked for, or the kernel ignores
/// CLONE_PIDFD). Any thread, with an `os_calls` of that thread's counts.
pid_t clone_and_exec(child_recipe& recipe, os_calls& os, int* pidfd) noexcept;

}  // namespace uvreap::detail
