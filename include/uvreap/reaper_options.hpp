// SPDX-License-Identifier: MIT
// uvreap: how a reaper is set up — its policy, its hooks, and what close does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <exception>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>

#include "uvreap/exit_status.hpp"

#pragma GCC visibility push(default)  // the public API; the rest of the library is hidden
namespace uvreap {

namespace sys {
class interface;
}

/// Called once per child, on the loop thread, after the child has been reaped (no zombie
/// is left by then and its pid may already belong to another process).
using exit_callback = std::function<void(const exit_status&)>;

/// Called once per `reaper::spawn_async`, on the loop thread: the child's pid and an
/// empty error once it runs (its exec succeeded), or -1 and why it could not start
/// (ENOENT, EACCES, ENOEXEC, EPERM, EAGAIN, ...; then no child, no zombie, no fd is left,
/// and its exit callback never runs).
using started_callback = std::function<void(pid_t pid, std::error_code error)>;

/// Which children a reaper takes.
enum class policy {
  /// Only the pids given to this reaper by `spawn` or `watch`. Never reaps another
  /// library's child: `uv_spawn` on the same loop, other reapers on other loops and
  /// threads, and code that calls `waitpid(pid)` itself all keep working. Each sweep peeks
  /// at the oldest zombie (`waitid(P_ALL, WNOWAIT)`) and reaps it by pid when it is ours:
  /// O(1) syscalls per exit. When the oldest zombie is someone else's, the sweep falls
  /// back to `wait4(pid, WNOHANG)` over this reaper's children, once per sweep (counted
  /// in `stats::fallback_scans`): O(live children) while a foreign zombie stays unreaped.
  own,
  /// Every child of the process (`wait4(-1, WNOHANG)` until none is left), the classic
  /// init/subreaper pattern run on the loop thread. **It takes children that are not its
  /// own**: a `uv_spawn` child goes to whichever SIGCHLD watcher sweeps first — libuv's (its
  /// `exit_cb` fires) or this reaper's (it reaches `on_orphan`, its `exit_cb` never fires,
  /// and its `uv_process_t` stays active until closed), varying from run to run; and
  /// `system()`, `popen()`/`pclose()` and any library that waits for its own pid may get
  /// ECHILD. Exits of children nobody watches go to `options::on_orphan` — including a
  /// child the program started itself and watches only after the loop has run (or from
  /// another thread): start children with `spawn` under this policy. At most one
  /// reaper of this policy may exist in a process at a time (the next gets EBUSY).
  all,
  /// Only the pids given to this reaper, like `own`, but without SIGCHLD: each child's
  /// pidfd (Linux >= 5.3) sits in one epoll set that a single `uv_poll_t` watches, and a
  /// readable pidfd is reaped with `wait4(pid)`. O(1) syscalls *and* O(1) kernel work per
  /// exit whatever the number of live children, at the price of one fd per live child.
  /// Where the kernel has no pidfd_open (ENOSYS) the reaper runs as `own` instead
  /// (`reap_policy()` says so). A child that gets no pidfd (EMFILE, ENFILE, ENOMEM) is
  /// still owned: it is reaped by per-pid `wait4` on SIGCHLD, counted in
  /// `stats::pidfd_fallbacks`. A pidfd that is readable with nothing to reap (a traced
  /// child) is re-armed on a timer, never waited for. pidfds are CLOEXEC but, like every
  /// fd, live on in a `fork()`ed child until it execs.
  pidfd,
};

/// "own", "all" or "pidfd".
[[nodiscard]] std::string_view to_string(policy p) noexcept;
std::ostream& operator<<(std::ostream& os, policy p);

/// What `close` does with children that are still running.
struct close_options {
  /// false: leave them running. They are no longer this reaper's: nothing reaps them
  /// unless the program does, so each becomes a zombie when it exits (as a closed
  /// `uv_process_t` would). true: send `signal`, wait up to `grace`, then SIGKILL what is
  /// left; reap all of them (without callbacks) before `on_closed` runs. A child spawned
  /// with a `tree` is signalled as a whole tree. Either way, trees whose child has
  /// exited and whose rest is being killed are waited for, so that their cgroups go.
  bool terminate = false;
  /// With `terminate`: the first signal.
  int signal = SIGTERM;
  /// With `terminate`: how long after `signal` (counted from the `close` call) the
  /// survivors get SIGKILL. Negative counts as zero.
  std::chrono::milliseconds grace{2000};

  /// Leave running children alone.
  [[nodiscard]] static close_options leave_running() noexcept { return {}; }
  /// Send `first_signal`, then SIGKILL after `grace`, and reap every child.
  [[nodiscard]] static close_options kill_children(
      std::chrono::milliseconds grace = std::chrono::milliseconds{2000},
      int first_signal = SIGTERM) noexcept {
    return {true, first_signal, grace};
  }
};

/// Construction-time settings.
struct options {
  /// Which children the reaper takes (see `policy`).
  policy reap_policy = policy::own;

  /// Policy `all` only: children reaped that nobody watched. May be empty (then they
  /// are reaped silently). Runs on the loop thread, never after close.
  exit_callback on_orphan;

  /// An exit callback (or `on_orphan`, or `on_closed`) threw. Exceptions never unwind
  /// through libuv: each is caught where our code called the user's, passed here with
  /// the child's pid (0 for `on_closed`), and the rest of the batch is still delivered.
  /// Empty: one line is written to stderr and the reaper carries on. A hook that throws
  /// itself ends the process (std::terminate), as throwing from a destructor would.
  std::function<void(std::exception_ptr, pid_t)> on_exception;

  /// A syscall failed in a way no caller can be told about (a sweep runs with no caller:
  /// `wait4` with an errno the man page does not list for our use, for instance). The
  /// sweep is retried on a 10 ms timer, so no exit is lost to a transient failure.
  /// Empty: one line is written to stderr.
  std::function<void(std::error_code, std::string_view what)> on_error;

  /// At most this many exits are reaped and dispatched per sweep; the rest are swept on
  /// the next loop iteration, so timers and sockets keep running during an exit storm.
  std::size_t max_batch = 512;

  /// What the destructor does if `close` was not called.
  close_options on_destroy = close_options::kill_children();

  /// Policy `all` only (EINVAL otherwise): make the process a child subreaper
  /// (`prctl(PR_SET_CHILD_SUBREAPER)`), so that descendants orphaned by their parents
  /// are re-parented to it and reach `on_orphan` instead of init — what an init or a
  /// supervisor wants. The previous setting is restored by `close`. Children started
  /// before and after both count; the setting is process-wide.
  bool subreaper = false;

  /// A sweep every `poll_interval` while the reaper owns children (always, under
  /// `all`), in addition to SIGCHLD: a bound on latency when SIGCHLD may not arrive.
  /// Zero means automatic: 100 ms when SIGCHLD is blocked in the constructing thread
  /// (the embedder may have blocked it in every thread, and then no SIGCHLD would ever
  /// wake the loop), none otherwise. Also useful when other code may replace libuv's
  /// SIGCHLD handler. Under `own` and `all` each poll also asks for every owned pid by
  /// number (O(owned children)), which is how a child reaped by someone else is noticed
  /// (reported as `exit_kind::lost`) while other children are alive. Negative: EINVAL.
  std::chrono::milliseconds poll_interval{0};

  /// A plain sweep every `safety_sweep` while the reaper owns a child whose exit it learns
  /// of through SIGCHLD (policies own and all; pidfd only for a child that got no pidfd),
  /// and never otherwise: no wake-up at all while it owns none. It bounds how late an exit
  /// can be when its SIGCHLD wake-up never reaches the loop: libuv's signal handler drops
  /// the wake-up of any signal when the process's signal pipe is full (4,096 undelivered
  /// signals, which one burst of queued real-time signals to any `uv_signal_t` in the
  /// process is enough for). The sweep is the one a SIGCHLD would have started (the wake-up
  /// carries no other information), so it finds every exit that wake-up would have: one
  /// wake-up and one syscall per interval when nothing has exited. Not run while a
  /// `poll_interval` is in effect (its poll does more). Zero: none. Negative: EINVAL.
  std::chrono::milliseconds safety_sweep{1000};

  /// `spawn_async`: at most this many threads of the reaper's own make children (each is
  /// started when a start is queued and none is idle, and ends at close). A start holds
  /// its thread until the child has exec'd, so more threads let more execs overlap.
  /// Zero: one per core, at least 2. More than 256: EINVAL.
  std::size_t start_threads = 0;

  /// Where children spawned with `tree::cgroup` (or `automatic`) get their cgroups: a
  /// cgroup v2 directory under which the reaper makes one of its own,
  /// `uvreap-<pid>-<n>`, with one directory per such child inside. Empty: the cgroup this
  /// process is in (found from /proc/self/mountinfo and /proc/self/cgroup; on a hybrid
  /// layout the v2 hierarchy is at /sys/fs/cgroup/unified). The reaper's directory is
  /// made at the first spawn that asks for a cgroup (a reaper that never does leaves no
  /// trace in the hierarchy) and removed by `close`, unless children left running by
  /// `close_options::leave_running` are still in it.
  std::string cgroup_parent;

  /// The OS seam, for tests (<uvreap/testing/sys.hpp>: no stability promise); null means
  /// the kernel (`sys::os()`). Must outlive the reaper.
  sys::interface* os = nullptr;
};

}  // namespace uvreap
#pragma GCC visibility pop
