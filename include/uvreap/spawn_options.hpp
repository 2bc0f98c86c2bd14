// SPDX-License-Identifier: MIT
// uvreap: what to start and how, for reaper::spawn.
#pragma once

#include <array>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

namespace uvreap {

/// Where one of the child's standard fds (0, 1, 2) comes from.
struct stdio {
  /// The source of the fd.
  enum class kind : unsigned char {
    inherit,   ///< the parent's fd of the same number
    dev_null,  ///< /dev/null, opened read-write
    fd,        ///< a given open fd of the parent (dup2'ed; the parent keeps its copy)
  };
  kind how = kind::inherit;  ///< where it comes from
  int fd = -1;               ///< with kind::fd

  /// The parent's fd of the same number.
  [[nodiscard]] static stdio inherit() noexcept { return {}; }
  /// /dev/null.
  [[nodiscard]] static stdio null() noexcept { return {kind::dev_null, -1}; }
  /// A copy of the parent's `fd`.
  [[nodiscard]] static stdio from_fd(int fd) noexcept { return {kind::fd, fd}; }
};

/// A time limit for a spawned child, counted from the `spawn` call.
///
/// When it expires the child gets `signal`; if it is still running `grace` later it gets
/// SIGKILL. Its exit record then says `deadline_fired()`. Signals go only to a child that
/// is not reaped yet, so never to a recycled pid.
///
/// The clock: `after` is counted from the `spawn` call itself (for a `spawn` from another
/// thread, from the moment the child was made there), and `grace` from the first signal,
/// whatever the loop did earlier in the same iteration (libuv's cached `uv_now` is brought
/// up to date before arming). A limit can fire late — the loop thread may be busy — but
/// never early.
///
/// What counts as "in time": the child's exit has happened by the time the loop thread
/// acts on the limit. Each step (the first signal, and SIGKILL after the grace) first asks
/// the kernel whether the child has exited — its exit may still be unread because libuv
/// runs timers before it polls for I/O. If it has, the step sends nothing: the child is
/// reaped there and then and delivered with its own status, `deadline_fired()` false
/// when the first signal was never sent (the skipped step is counted in
/// `stats::signals_skipped`). An exit that the reaper has already seen cancels the limit:
/// no signal, no timer keeping the loop alive. With `process_group`, a leader that
/// exited in time keeps its group from being signalled too.
struct deadline {
  /// From spawn to the first signal. Must be positive.
  std::chrono::milliseconds after{0};
  /// The first signal; SIGKILL skips the grace period.
  int signal = SIGTERM;
  /// From the first signal to SIGKILL. Zero sends SIGKILL on the next loop iteration.
  std::chrono::milliseconds grace{2000};
  /// Signal the child's process group (`kill(-pid, sig)`) instead of the child alone, so
  /// that its own children go too. Requires `new_session` or `new_process_group`.
  bool process_group = false;
};

/// How to start a child. Every string must be free of NUL bytes.
///
/// In the child, whatever the parent had: the signal mask is empty, every signal's
/// disposition is the default (SIG_IGN included, so a server's ignored SIGPIPE does not
/// leak), and every fd above 2 is closed (fds named in `stdio` are dup2'ed to 0-2 first).
struct spawn_options {
  /// argv[0] is the program unless `file` is set. Must not be empty.
  std::vector<std::string> argv;
  /// The program to execute; empty means argv[0].
  std::string file;
  /// Look the program up in the parent's PATH when it has no '/' (posix_spawnp).
  bool search_path = true;
  /// The environment, each entry "KEY=value"; nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  /// The working directory; empty inherits the parent's.
  std::string cwd;
  /// Standard input, output and error.
  std::array<stdio, 3> stdio_map{};
  /// setsid() in the child: a new session and process group, no controlling terminal.
  bool new_session = false;
  /// setpgid(0, 0) in the child: a new process group (exclusive with new_session).
  bool new_process_group = false;
  /// A time limit (see `deadline`); nullopt for none.
  std::optional<uvreap::deadline> time_limit;
};

}  // namespace uvreap
