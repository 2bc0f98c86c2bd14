// SPDX-License-Identifier: MIT
// uvreap (private): the reaper's core — the child table, the sweep, dispatch, time
// limits and close, on one libuv loop.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "child_table.hpp"
#include "deadline_queue.hpp"
#include "fork_generation.hpp"
#include "os_calls.hpp"
#include "policy.hpp"
#include "thread_inbox.hpp"
#include "tree.hpp"
#include "uv_handle.hpp"
#include "uvreap/exit_status.hpp"
#include "uvreap/reaper_options.hpp"
#include "uvreap/run.hpp"
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"

namespace uvreap::detail {

/// What `uvreap::reaper` fronts. An exit flows one way through it:
///
///     libuv wake-up (SIGCHLD watcher, pidfd poll, continuation, timers)
///       -> sweep(): the policy's collect() asks the kernel and lists what it reaped
///       -> release(): each child leaves the table (the one place it does) into the batch
///       -> dispatch(): the batch's callbacks, stopping if a callback closed the reaper
///
/// Loop thread only, except `spawn` and `watch`, which hand children made on other
/// threads to the loop through the thread inbox. Kept alive by `self_` from `start`
/// until libuv has released every handle, which may be after the reaper object is gone.
/// What a test may put in place of the policy and of the loop's clock
/// (test/core_test.cpp). Empty: the policy `options` asks for, and the loop's time.
struct core_seams {
  std::function<std::unique_ptr<exit_source>()> policy;
  /// Milliseconds on a monotonic clock. Time limits are armed and found due by it; the
  /// libuv timer that wakes them is still armed for the difference in real time, so a
  /// test that moves its clock calls `core::clock_moved` (the timer is then due at once).
  std::function<std::uint64_t()> clock;
};

class run_job;

class __attribute__((visibility("hidden"))) core final : error_sink {
 public:
  core(uv_loop_t* loop, options opts, core_seams seams = {}) noexcept;
  core(const core&) = delete;
  core& operator=(const core&) = delete;
  ~core();

  std::error_code start(const std::shared_ptr<core>& self) noexcept;
  pid_t spawn(const spawn_options& opts, exit_callback cb, std::error_code& ec) noexcept;
  void spawn_async(const spawn_options& opts, started_callback on_started, exit_callback on_exit,
                   std::error_code& ec) noexcept;
  void watch(pid_t pid, exit_callback cb, std::error_code& ec) noexcept;
  void kill(pid_t pid, int sig, std::error_code& ec) noexcept;
  void kill_tree(pid_t pid, int sig, std::error_code& ec) noexcept;
  void resize(pid_t pid, int cols, int rows, std::error_code& ec) noexcept;
  pid_t run(const spawn_options& opts, run_options how, run_callback done,
            std::error_code& ec) noexcept;
  /// Whether cgroup trees can be made (making the reaper's cgroup); `why` in words.
  std::error_code cgroup_status(std::string* why) noexcept { return home_.ready(why); }
  /// Whether `s` can be applied here, and what of it; `why` in words. Any thread.
  std::error_code sandbox_status(const sandbox_options& s, sandbox_report* what,
                                 std::string* why) noexcept;
  bool close(const close_options& how, std::function<void()> on_closed) noexcept;

  [[nodiscard]] bool open() const noexcept { return state_ == state::open; }
  [[nodiscard]] bool watching(pid_t pid) const noexcept { return table_.contains(pid); }
  [[nodiscard]] std::size_t size() const noexcept { return table_.size(); }
  /// Trees whose child has exited, killed and not yet empty (their callbacks wait).
  [[nodiscard]] std::size_t draining() const noexcept { return draining_.size(); }
  [[nodiscard]] const uvreap::stats& counters() const noexcept { return stats_; }
  [[nodiscard]] uv_loop_t* loop() const noexcept { return loop_; }
  [[nodiscard]] const options& opts() const noexcept { return opts_; }
  [[nodiscard]] policy effective_policy() const noexcept;
  [[nodiscard]] std::chrono::milliseconds poll_interval() const noexcept { return poll_every_; }
  /// A test's clock (`core_seams::clock`) moved: look at the time limits again.
  void clock_moved() noexcept { restart_deadline_timer(); }

 private:
  enum class state { open, closing, closed };

  // A spawn_async's outcome on its way to its on_started (pid -1: it did not start).
  struct started_note {
    started_callback callback;
    pid_t pid = -1;
    std::error_code error;
  };

  // One exit on its way to its callback.
  struct pending {
    exit_status status;
    exit_callback callback;
    bool orphan = false;
    std::unique_ptr<terminal_hold> terminal;  // ended once the callback has run
  };

  // --- libuv callbacks: each notes the loop thread, then does one thing ---
  static core* enter(void* data) noexcept;
  static void on_sigchld(uv_signal_t* h, int signum);
  static void on_continuation(uv_idle_t* h);
  static void on_resweep(uv_timer_t* h);
  static void on_pidfd_ready(uv_poll_t* h, int status, int events);
  static void on_poll_timer(uv_timer_t* h);
  static void on_safety_timer(uv_timer_t* h);
  static void on_inbox(uv_async_t* h);
  static void on_deadline(uv_timer_t* h);
  static void on_grace(uv_timer_t* h);
  static void on_handle_closed(uv_handle_t* h);
  static void on_hop_closed(uv_handle_t* h);
  static void wake_loop(void* self) noexcept;

  // --- the exit path ---
  void sweep(sweep_kind why) noexcept;
  void release(const reaped& r) noexcept;
  void deliver_lost(pid_t pid) noexcept;
  exit_callback take_child(pid_t pid, bool* deadline_fired,
                           std::unique_ptr<tree_birth>* tree = nullptr,
                           std::unique_ptr<terminal_hold>* terminal = nullptr,
                           std::uint16_t* sandbox = nullptr) noexcept;
  reap_outcome reap_now(pid_t pid) noexcept;
  void dispatch() noexcept;
  void after_dispatch() noexcept;

  // --- registration ---
  std::error_code check_usable() const noexcept;
  [[nodiscard]] bool on_loop_thread() const noexcept {
    return std::this_thread::get_id() == loop_thread_.load(std::memory_order_relaxed);
  }
  std::error_code reserve_for_one(bool with_deadline, bool with_tree = false) noexcept;
  void adopt(pid_t pid, exit_callback cb, int pidfd = -1,
             std::unique_ptr<tree_birth> tree = nullptr,
             std::unique_ptr<terminal_hold> terminal = nullptr, std::uint16_t sandbox = 0) noexcept;
  pid_t spawn_from_thread(const spawn_options& opts, exit_callback cb,
                          std::error_code& ec) noexcept;
  void watch_from_thread(pid_t pid, exit_callback cb, std::error_code& ec) noexcept;
  void drain_inbox() noexcept;
  bool register_drained() noexcept;
  void start_off_loop(std::unique_ptr<start_job> job) noexcept;  // on the starter's thread
  void note_started(thread_inbox::item& q, pid_t pid, std::error_code error) noexcept;
  void abandon_starts() noexcept;

  // options::start_threads, or one starter per core (at least 2): a start holds its thread
  // until the child's exec.
  static std::size_t start_threads(std::size_t asked) noexcept {
    if (asked != 0) return asked;
    const unsigned n = std::thread::hardware_concurrency();
    return n < 2 ? 2 : n;
  }

  // --- trees (core_trees.cpp) ---
  // A child's tree that outlived it: killed, its exit held until the cgroup is empty.
  struct draining_tree {
    pending exit;
    tree_report report;
    std::unique_ptr<cgroup_slot> slot;
    int wd = -1;  // its inotify watch on cgroup.events; -1: looked at on the re-sweep timer
  };
  std::error_code prepare_tree(uvreap::tree mode, std::unique_ptr<tree_birth>& out) noexcept;
  static pid_t start_in_tree(spawn_plan& plan, tree_birth* tree, bool want_pidfd,
                             int* pidfd) noexcept;
  bool hold_for_tree(pid_t pid, bool lost, std::unique_ptr<tree_birth> tree, pending& p) noexcept;
  int signal_tree(pid_t pid, const tree_birth& tree, int sig) noexcept;
  int signal_members(cgroup_slot& slot, int sig) noexcept;
  void finish_tree(tree_report& r, std::unique_ptr<cgroup_slot> slot) noexcept;
  int watch_tree(draining_tree& d) noexcept;
  int start_tree_poll() noexcept;
  // Delivers the trees from `from` on that are empty: all of them, or (all false) those
  // whose watch fired (fired_wds_) or that have none.
  void collect_drained(bool all, std::size_t from = 0) noexcept;
  static void on_tree_event(uv_poll_t* h, int status, int events);
  void close_trees() noexcept;

  // --- terminals (core_terminals.cpp) ---
  // A delivered child's terminal: its slave copy is closed once the master is read to
  // the end, looked at on terminal_timer_ with a growing interval until then.
  void end_terminal(std::unique_ptr<terminal_hold> t) noexcept;
  static void on_terminal_timer(uv_timer_t* h);

  // --- run (run.cpp) ---
  friend class run_job;
  void run_ended(run_job* job) noexcept;
  void cancel_runs() noexcept;
  void invoke_run(const run_callback& cb, run_result& result) noexcept;

  // --- time limits ---
  std::uint64_t clock_now() noexcept;
  void start_timer(uv_timer_t* t, uv_timer_cb cb, std::uint64_t timeout_ms,
                   std::uint64_t repeat_ms = 0) noexcept;
  void arm_deadline(pid_t pid, const uvreap::deadline& d, std::uint64_t elapsed_ms) noexcept;
  void run_deadlines() noexcept;
  void restart_deadline_timer() noexcept;

  // --- scheduling and loop references ---
  void schedule_continuation() noexcept;
  void schedule_resweep() noexcept;
  void update_sigchld_watch() noexcept;
  void update_ref() noexcept;

  // Calls `f` on each libuv handle of the core.
  template <class F>
  void for_each_handle(F&& f) noexcept {
    f(sigchld_);
    f(pidfd_poll_);
    f(continuation_);
    f(resweep_timer_);
    f(poll_timer_);
    f(safety_timer_);
    f(deadline_timer_);
    f(grace_timer_);
    f(inbox_async_);
    f(tree_poll_);
    f(terminal_timer_);
  }

  // --- handles: made at start, made anew after the application closed them ---
  int init_handles() noexcept;
  std::error_code ensure_handles() noexcept;
  bool retire_handles() noexcept;
  void hide_handles(bool yes) noexcept;

  // --- close ---
  void signal_unreaped(int sig) noexcept;
  void finish_close() noexcept;
  void start_hops(int n) noexcept;
  void all_handles_closed() noexcept;

  // --- user code boundary: nothing thrown by user code passes these ---
  void invoke(const exit_callback& cb, const exit_status& st) noexcept;
  void invoke_started(started_note& n) noexcept;
  void report_exception(std::exception_ptr e, pid_t pid) noexcept;
  void report(int neg_errno, std::string_view what) noexcept override;

  uv_loop_t* loop_;
  options opts_;
  core_seams seams_;
  uvreap::stats stats_{};
  os_calls os_;
  // Declared before everything that may hold a tree (the table, the inbox, the starter's
  // jobs, draining_): their cgroup slots give their fd budget back to it as they go.
  tree_home home_{opts_.cgroup_parent};
  std::unique_ptr<exit_source> policy_;
  const unsigned generation_ = fork_generation();
  std::atomic<std::thread::id> loop_thread_{std::this_thread::get_id()};
  state state_ = state::open;
  std::chrono::milliseconds poll_every_{0};

  detail::child_table table_;
  std::vector<reaped> reaped_;  // what the policy reaped in this sweep
  std::vector<pending> batch_;  // what the sweep will call back
  deadline_queue deadlines_;
  thread_inbox inbox_{wake_loop, this};
  std::vector<thread_inbox::item> drained_;  // taken from the inbox, not registered yet
  std::vector<started_note> started_;        // spawn_async outcomes the next dispatch delivers
  // spawn_async calls whose on_started is not yet queued for delivery: while any is, the
  // inbox's async handle keeps the loop alive (so uv_run waits for the outcome).
  std::atomic<std::size_t> starts_pending_{0};
  // Declared after the inbox, which its thread uses: destroyed (joined) before it.
  async_starter starter_{[this](std::unique_ptr<start_job> job) { start_off_loop(std::move(job)); },
                        start_threads(opts_.start_threads)};
  bool sweep_after_inbox_ = false;           // the last sweep waits for a registration on its way

  uv_handle<uv_signal_t> sigchld_;       // own, all; pidfd while a child has no pidfd
  uv_handle<uv_poll_t> pidfd_poll_;      // pidfd: the epoll set of pidfds
  uv_handle<uv_idle_t> continuation_;    // a sweep owed on the next iteration
  uv_handle<uv_timer_t> resweep_timer_;  // a sweep 10 ms after a failure or a parked pidfd
  uv_handle<uv_timer_t> poll_timer_;     // options::poll_interval
  uv_handle<uv_timer_t> safety_timer_;   // options::safety_sweep: a lost SIGCHLD wake-up
  uv_handle<uv_timer_t> deadline_timer_;
  uv_handle<uv_timer_t> grace_timer_;  // close(kill_children): the SIGKILL step
  uv_handle<uv_async_t> inbox_async_;  // wakes the loop for the thread inbox
  uv_handle<uv_poll_t> tree_poll_;     // the inotify fd watching draining trees' cgroups
  uv_handle<uv_timer_t> terminal_timer_;  // ending_terminals_' next look
  int closing_handles_ = 0;
  // Memory of handles the application closed (uv_walk at shutdown), which libuv may
  // touch until the closing pass that finishes them: freed only after a hop — a handle
  // of ours closed after them — has come back, so that pass is over.
  std::vector<std::shared_ptr<void>> retired_;
  std::unique_ptr<uv_idle_t> hop_;
  int hops_left_ = 0;
  bool hop_owed_ = false;  // some handle was taken: free nothing before a hop

  std::size_t live_trees_ = 0;           // table entries with a tree
  std::vector<draining_tree> draining_;  // room for every live tree, reserved at spawn
  int inotify_fd_ = -1;                  // made at the first tree that outlives its child
  std::vector<int> fired_wds_;           // scratch for on_tree_event
  std::vector<run_job*> runs_;           // reaper::run calls not yet called back
  std::vector<std::unique_ptr<terminal_hold>> ending_terminals_;  // read to the end yet?
  std::uint64_t terminal_wait_ms_ = 0;   // the timer's interval: 1 ms, doubling to 100

  std::function<void()> on_closed_;
  std::shared_ptr<core> self_;
};

}  // namespace uvreap::detail
