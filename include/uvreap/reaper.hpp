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
#include <string>
#include <string_view>
#include <system_error>

#include "uvreap/exit_status.hpp"
#include "uvreap/reaper_options.hpp"
#include "uvreap/run.hpp"
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"

#pragma GCC visibility push(default)  // the public API; the rest of the library is hidden
namespace uvreap {

namespace detail {
class __attribute__((visibility("hidden"))) core;  // the library's own, never exported
}

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
/// - Shutdown by `uv_walk`: handles the application closes while the reaper is open are
///   made anew at its next `spawn`, `watch` or `close` (`stats::handles_renewed`); while
///   a terminating close waits for its children, its handles are hidden from `uv_walk`
///   like libuv's own. Either way `close` ends with `on_closed` and its children are
///   handled as it says. Run the loop until `uv_run` returns 0 before `uv_loop_close`,
///   which does not count hidden handles.
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

  /// Starts a child (the library's spawn engine; see `spawn_options` for the steps) and
  /// owns it. The pid is registered before this returns (queued for the loop thread when
  /// called from another thread), so its exit cannot be missed. With `opts.time_limit`,
  /// the child is signalled when it expires. Exec failures (ENOENT, EACCES, ENOEXEC), a
  /// failed step of the child (a bad cwd, EPERM from uid/gid/groups or an rlimit), and
  /// resource limits (EAGAIN, EMFILE, ENOMEM) are returned here; then no callback will
  /// ever run, no zombie is left, no fd of a pipe it made stays open, and its `uv_pipe_t`s
  /// are left unopened. Pipes are opened on the calling thread after the child exists.
  /// Also EINVAL for an empty callback or invalid options, ESTALE after close, ENOSYS on a
  /// kernel without the engine's calls for options only the engine can carry out.
  pid_t spawn(const spawn_options& opts, exit_callback on_exit);
  /// The non-throwing form of `spawn`: -1 and `ec` set on failure.
  pid_t spawn(const spawn_options& opts, exit_callback on_exit, std::error_code& ec) noexcept;

  /// Starts a child without waiting for it: the calling thread only validates `opts`
  /// and makes the parent's fds (its pipes); the clone and the wait for the child's exec
  /// happen on a thread of the reaper's own (started at the first call, ended by
  /// `close`), so the loop never waits for a child to start. Any thread may call it.
  ///
  /// `on_started` runs once, on the loop thread: with the pid once the child runs, or
  /// with -1 and what `spawn` would have returned (ENOENT, EACCES, a bad cwd, EPERM,
  /// EAGAIN, ...; then no child, no zombie and no fd of its pipes is left, and `on_exit`
  /// never runs). `on_exit` runs once, only for a started child, always after its
  /// `on_started`. Errors returned at once (then neither callback runs): EINVAL (an
  /// empty callback, invalid options), EBADF, EMFILE and ENOMEM from making the pipes,
  /// ESTALE after close, EAGAIN when the thread cannot be started.
  ///
  /// Every option of `spawn` applies. The options are copied; `uv_pipe_t`s and streams
  /// named in `stdio_map` must stay valid until `on_started`: a pipe is opened on the
  /// loop thread, just before `on_started` (it must belong to this reaper's loop). A
  /// `time_limit` counts from this call. While an outcome is on its way the loop is kept
  /// alive (for a call from the loop thread; from another thread, keep `uv_run` going
  /// as for `spawn`). `close` waits for a start being made, drops the queued ones
  /// (neither callback runs), and kills and reaps every child whose `on_started` has not
  /// run, whatever the close options: its pid was never given to anyone.
  void spawn_async(const spawn_options& opts, started_callback on_started, exit_callback on_exit);
  /// The non-throwing form of `spawn_async`: `ec` set when it is refused at once.
  void spawn_async(const spawn_options& opts, started_callback on_started, exit_callback on_exit,
                   std::error_code& ec) noexcept;

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

  /// Loop thread only. Spawns `opts` and collects it: stdin from `how.input`, stdout and
  /// stderr kept up to `how.max_output` each (the rest drained and dropped), and `done`
  /// called once, on the loop thread, when the child has exited, its whole tree is gone
  /// and its output is read. The tree is contained: `tree::none` is taken as
  /// `tree::automatic` (unless `how.contain_tree` is false), so a time limit (`opts.time_limit`) and `close` end the whole
  /// tree, and with a cgroup nothing it started can hold the output open. Entries 0-2 of
  /// `opts.stdio_map` are replaced (fds above 2 are kept as given). Returns the pid; the
  /// errors are `spawn`'s (then `done` never runs). After `close`, `done` never runs:
  /// the pipes are closed and the tree handled as `close` says.
  pid_t run(const spawn_options& opts, run_options how, run_callback done);
  /// The non-throwing form of `run`: -1 and `ec` set on failure.
  pid_t run(const spawn_options& opts, run_options how, run_callback done,
            std::error_code& ec) noexcept;

  /// Loop thread only. Sends `sig` to the whole tree of a child spawned with a `tree`
  /// (`spawn_options::tree`): with a cgroup, SIGKILL through cgroup.kill (nothing in the
  /// tree escapes it, and nothing can fork past it) and any other signal to every process
  /// in the cgroup (frozen while the signals go, so no pid in its list can be reused
  /// meanwhile); with a process group, `kill(-pid, sig)`. 0 probes the child. After the
  /// child has exited, while the rest of its tree is being killed (before its callback),
  /// the signal still reaches what is left. Errors: ESRCH (not a child of this reaper, or
  /// its callback has run), EINVAL (pid <= 0, a bad signal, a child without a tree),
  /// EPERM as kill(2) reports it, ESTALE after close.
  void kill_tree(pid_t pid, int sig);
  /// The non-throwing form of `kill_tree`: `ec` set on failure.
  void kill_tree(pid_t pid, int sig, std::error_code& ec) noexcept;

  /// Loop thread only. Sets the size of the terminal of a child spawned with
  /// `spawn_options::terminal` (TIOCSWINSZ on its master); the kernel sends SIGWINCH to
  /// the terminal's foreground process group when the size changes. Errors: EINVAL (pid
  /// <= 0, `cols` or `rows` outside 1-65,535), ESRCH (not a child of this reaper, or its
  /// callback has run), ENOTTY (a child without a terminal), EBADF (its handle was
  /// closed), ESTALE after close.
  void resize(pid_t pid, int cols, int rows);
  /// The non-throwing form of `resize`: `ec` set on failure.
  void resize(pid_t pid, int cols, int rows, std::error_code& ec) noexcept;

  /// Whether a spawn with sandbox `s` would succeed here, builds it (in the parent only)
  /// and discards it: the errno `spawn` would get (ENOTSUP: a rule the kernel cannot
  /// enforce, ENOENT: a path, ...), `why` (when not null) in words — which rule, which
  /// path, or that it can be applied — and `what` (when not null) what would be applied
  /// (with `best_effort`, what is left out shows there). Any thread.
  [[nodiscard]] std::error_code sandbox_status(const sandbox_options& s,
                                               sandbox_report* what = nullptr,
                                               std::string* why = nullptr) noexcept;

  /// Whether children can be spawned with `tree::cgroup`: makes the reaper's cgroup (see
  /// `options::cgroup_parent`) if it is not made yet. On failure the errno that `spawn`
  /// would return, and `why` (when not null) says why in words ("cannot make the cgroup
  /// /sys/fs/cgroup/x/uvreap-42-1: Permission denied"); on success `why` gets the path
  /// of the reaper's cgroup. Any thread.
  [[nodiscard]] std::error_code cgroup_status(std::string* why = nullptr) noexcept;

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

 private:
  __attribute__((visibility("hidden"))) explicit reaper(std::shared_ptr<detail::core> p) noexcept;
  std::shared_ptr<detail::core> core_;
};

}  // namespace uvreap
#pragma GCC visibility pop
