// SPDX-License-Identifier: MIT
// uvreap: the reaper — spawn or adopt children, get each exit once on the loop thread.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <exception>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include "uvreap/exit_status.hpp"
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"

namespace uvreap {

namespace sys {
class interface;
}

/// Called once per child, on the loop thread, after the child has been reaped (no zombie
/// is left by then and its pid may already belong to another process).
using exit_callback = std::function<void(const exit_status&)>;

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
  /// own**: `uv_spawn`'s `exit_cb` never fires (libuv's `waitpid` then finds nothing),
  /// `system()`, `popen()`/`pclose()` and any library that waits for its own pid get
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
  /// left; reap all of them (without callbacks) before `on_closed` runs.
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

  /// The OS seam; null means the kernel (`sys::os()`). Must outlive the reaper.
  sys::interface* os = nullptr;
};

/// Reaps children on a libuv loop.
///
/// SIGCHLD reaches it through a `uv_signal_t` (libuv turns the signal into a self-pipe
/// wake-up), so every `wait4`/`waitid` and every callback runs on the loop thread; no
/// code of this library runs in a signal handler. SIGCHLD means only that *some* child
/// *may* have changed state, and signals coalesce, so each sweep loops until nothing
/// waitable is left.
///
/// Contracts:
/// - Each child given to the reaper (`spawn`, `watch`) gets its callback exactly once,
///   with its pid and status — or the call that would have given it returned an error
///   and no callback will ever run. Never both, never neither (until `close`).
/// - Once a child's callback runs, the child is reaped: no zombie is left.
/// - A child that someone else reaps (a foreign `waitpid(-1)`, `wait()`) gets its
///   callback once with `exit_kind::lost`. `pidfd` notices at once; `own` and `all`
///   notice when the process has no children left, when the pid is handed out again,
///   or at the next safety poll (`options::poll_interval`) — set one if code you do not
///   control may reap children.
/// - `close` stops all callbacks. A callback may call `spawn`, `watch`, `kill` and
///   `close` on its own reaper, and may destroy it.
/// - Threads: `spawn` and `watch` may be called from any thread (see below); every other
///   member is loop-thread only, like libuv's own handles. Callbacks always run on the
///   loop thread. Several reapers on several loops in several threads each see only
///   their own children (policy `own`).
/// - Loop reference: a reaper with no children does not keep `uv_run` alive; one with
///   children (or a terminating close in progress) does.
/// - Memory: libuv handles are freed in their close callbacks, so after `close` (or the
///   destructor) the loop must run once more before `uv_loop_close` returns 0.
/// - Dispositions: construction fails with EBUSY when SIGCHLD is set to SIG_IGN or has
///   SA_NOCLDWAIT (the kernel would reap children itself and statuses would be lost).
///   libuv owns the SIGCHLD handler while any SIGCHLD watcher exists, and resets it to
///   SIG_DFL when the last one stops.
///
/// Calls from other threads: the loop thread is the one that constructed the reaper
/// until the loop first runs one of the reaper's callbacks, and the one running the loop
/// from then on. `spawn` and `watch` called from any other thread validate their input,
/// make the child (spawn) or check it (watch) on the calling thread, and hand it to the
/// loop thread through a mutex-protected queue and a `uv_async_t`; they return the same
/// errors as on the loop thread, except that watching a pid that the loop thread already
/// watches is reported to `options::on_error` (EBUSY) instead of returned, since only the
/// loop thread can tell. The child's callback is owed from the moment the call returns
/// successfully. The queue's `uv_async_t` does not keep the loop alive: keep `uv_run`
/// going (any referenced handle does) until such calls have returned and their children
/// are registered. The reaper object must outlive every call made on it.
///
/// Every fallible member has two forms: one that throws `std::system_error`, and a
/// `noexcept` one that reports through a `std::error_code&`. Errors carry the errno that
/// fits. After `close`, calls fail with ESTALE; in a child made by `fork()` after the
/// reaper was created (where its children are not the process's children), `spawn`,
/// `watch` and `kill` fail with ECHILD and never signal the parent's children.
class reaper {
 public:
  /// Starts watching SIGCHLD on `loop`. Throws std::system_error: EBUSY (a second
  /// `all` reaper, or SIGCHLD ignored), EINVAL (null loop, max_batch 0, negative
  /// poll_interval, subreaper without policy `all`), what prctl or libuv reported.
  explicit reaper(uv_loop_t* loop, options opts = {});

  /// The non-throwing form of the constructor: nullopt and `ec` set on failure.
  [[nodiscard]] static std::optional<reaper> create(uv_loop_t* loop, options opts,
                                                    std::error_code& ec) noexcept;

  /// Takes over `other`'s children and handles; `other` is left closed.
  reaper(reaper&& other) noexcept;
  /// Closes this reaper (with `options::on_destroy`), then takes over `other`.
  reaper& operator=(reaper&& other) noexcept;
  reaper(const reaper&) = delete;
  reaper& operator=(const reaper&) = delete;

  /// Closes with `options::on_destroy` unless `close` was called. Safe inside a callback
  /// of this reaper.
  ~reaper();

  /// Starts a child with posix_spawn and owns it. The pid is registered before this
  /// returns (queued for the loop thread when called from another thread), so its exit
  /// cannot be missed. With `opts.time_limit`, the child is signalled when it expires. Exec
  /// failures (ENOENT, EACCES, ENOEXEC), a bad cwd, and resource limits (EAGAIN, EMFILE, ENOMEM)
  /// are returned here; then no callback will ever run and no zombie is left. Also EINVAL for an
  /// empty callback or invalid options, ESTALE after close.
  pid_t spawn(const spawn_options& opts, exit_callback on_exit);
  /// The non-throwing form of `spawn`: -1 and `ec` set on failure.
  pid_t spawn(const spawn_options& opts, exit_callback on_exit, std::error_code& ec) noexcept;

  /// Adopts a child the program started itself (fork, another spawner). It must be an
  /// unreaped child of this process; if it has already exited, its callback runs on the
  /// next loop iteration, never inside `watch`. Errors: EINVAL (pid <= 0, empty
  /// callback), EBUSY (already watched), ECHILD (not an unreaped child of this process),
  /// ESTALE after close. Do not watch a pid that a `uv_process_t` owns: whichever of the
  /// two reaps it first wins, and this reaper reports the other as `exit_kind::lost`.
  void watch(pid_t pid, exit_callback on_exit);
  /// The non-throwing form of `watch`: `ec` set on failure.
  void watch(pid_t pid, exit_callback on_exit, std::error_code& ec) noexcept;

  /// Loop thread only. Sends `sig` (0 to probe) to a child this reaper owns and has not reaped yet.
  /// A pid already reaped may belong to another process now, so it gets ESRCH without any syscall;
  /// so does a pid this reaper never owned. EINVAL for pid <= 0 (a group or every process, never a
  /// child) and a bad signal number, EPERM as kill(2) reports it, ESTALE after close.
  void kill(pid_t pid, int sig);
  /// The non-throwing form of `kill`: `ec` set on failure.
  void kill(pid_t pid, int sig, std::error_code& ec) noexcept;

  /// Loop thread only. Stops all callbacks and releases the libuv handles; asynchronous
  /// and idempotent. Children queued by other threads are registered first, so they are
  /// terminated or left running like the others.
  /// `on_closed` runs on the loop thread once everything is released (and, with
  /// `terminate`, every child is reaped); the loop must be run for that. Returns false
  /// (and never calls `on_closed`) when the reaper was already closing or closed.
  bool close(close_options how = {}, std::function<void()> on_closed = {}) noexcept;

  /// The queries below are loop thread only. True while `pid` is owned and not yet reaped.
  [[nodiscard]] bool watching(pid_t pid) const noexcept;
  /// Children owned and not yet reaped.
  [[nodiscard]] std::size_t size() const noexcept;
  /// True from `close` on (also for a moved-from reaper).
  [[nodiscard]] bool closed() const noexcept;
  /// Counters since construction (still readable after close).
  [[nodiscard]] uvreap::stats stats() const noexcept;
  /// The loop the reaper runs on (null for a moved-from reaper).
  [[nodiscard]] uv_loop_t* loop() const noexcept;
  /// The policy in effect: the one asked for, except `pidfd` on a kernel without
  /// pidfd_open, which runs as `own`.
  [[nodiscard]] policy reap_policy() const noexcept;
  /// The safety poll's interval in effect (zero: none); see `options::poll_interval`.
  [[nodiscard]] std::chrono::milliseconds poll_interval() const noexcept;

  class impl;

 private:
  explicit reaper(std::shared_ptr<impl> p) noexcept;
  std::shared_ptr<impl> impl_;
};

}  // namespace uvreap
