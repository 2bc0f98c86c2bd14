// SPDX-License-Identifier: MIT
// uvreap: the reaper — SIGCHLD watcher, sweeps, dispatch and close.
#include "uvreap/reaper.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <new>
#include <optional>
#include <ostream>
#include <thread>
#include <utility>
#include <vector>

#include "child_table.hpp"
#include "deadline_queue.hpp"
#include "errno_code.hpp"
#include "spawner.hpp"
#include "thread_inbox.hpp"
#include "uvreap/sys.hpp"

namespace uvreap {

using detail::errno_code;

namespace {

// Policy `all` takes every child of the process, so two of them would steal from each
// other. The claim is process-wide, across loops and threads.
std::atomic<bool> g_all_claimed{false};

// Bumped in the child of every fork() (not of posix_spawn, whose children exec). A
// reaper created before a fork sees a different value in the forked child, where none
// of its children are children of the process any more.
std::atomic<unsigned> g_fork_generation{0};

unsigned fork_generation() noexcept {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  return g_fork_generation.load();
}

constexpr std::uint64_t kRetryDelayMs = 10;
constexpr std::chrono::milliseconds kAutoPollInterval{100};

// Calls `call` until it returns something other than -EINTR, counting every attempt in
// `counter` and every retry in `eintr`. The one place where EINTR is retried.
template <class Call>
auto retry_eintr(std::uint64_t& counter, std::uint64_t& eintr, Call&& call) noexcept {
  for (;;) {
    ++counter;
    const auto r = call();
    if (r != -EINTR) return r;
    ++eintr;
  }
}

const char* what_of(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "non-standard exception";
  }
}

}  // namespace

std::string_view to_string(policy p) noexcept {
  switch (p) {
    case policy::own:
      return "own";
    case policy::all:
      return "all";
    case policy::pidfd:
      return "pidfd";
  }
  return "unknown";
}
std::ostream& operator<<(std::ostream& os, policy p) {
  return os << to_string(p);
}

class reaper::impl {
 public:
  impl(uv_loop_t* loop, options opts) noexcept
      : loop_(loop),
        opts_(std::move(opts)),
        os_(opts_.os != nullptr ? *opts_.os : sys::os()),
        policy_(opts_.reap_policy) {}

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  ~impl() {
    if (claimed_all_) g_all_claimed.store(false);
    restore_subreaper();
    if (epfd_ >= 0) sys_close(epfd_);
  }

  std::error_code start(const std::shared_ptr<impl>& self) noexcept;
  pid_t spawn(const spawn_options& opts, exit_callback cb, std::error_code& ec) noexcept;
  void watch(pid_t pid, exit_callback cb, std::error_code& ec) noexcept;
  void kill(pid_t pid, int sig, std::error_code& ec) noexcept;
  bool close(const close_options& how, std::function<void()> on_closed) noexcept;

  [[nodiscard]] bool open() const noexcept { return state_ == state::open; }
  // ESTALE once closed, ECHILD in a forked child of the process that created us.
  [[nodiscard]] std::error_code unusable() const noexcept {
    if (state_ != state::open) return errno_code(ESTALE);
    if (fork_generation() != generation_) return errno_code(ECHILD);
    return {};
  }
  [[nodiscard]] bool watching(pid_t pid) const noexcept { return table_.contains(pid); }
  [[nodiscard]] std::size_t size() const noexcept { return table_.size(); }
  [[nodiscard]] const uvreap::stats& counters() const noexcept { return stats_; }
  [[nodiscard]] uv_loop_t* loop() const noexcept { return loop_; }
  [[nodiscard]] const options& opts() const noexcept { return opts_; }
  [[nodiscard]] policy effective_policy() const noexcept { return policy_; }
  [[nodiscard]] std::chrono::milliseconds poll_interval() const noexcept { return poll_every_; }
  [[nodiscard]] bool on_loop_thread() const noexcept {
    return std::this_thread::get_id() == loop_thread_.load(std::memory_order_relaxed);
  }

 private:
  enum class state { open, closing, closed };
  enum class outcome { reaped, running, failed };

  struct pending {
    exit_status status;
    exit_callback callback;
    bool orphan = false;
  };

  // --- the OS seam; EINTR is retried in retry_eintr and nowhere else ---
  template <class Call>
  auto retry(std::uint64_t& counter, Call&& call) noexcept {
    return retry_eintr(counter, stats_.syscalls.eintr, std::forward<Call>(call));
  }
  pid_t sys_wait4(pid_t pid, int* status, int flags, ::rusage* ru) noexcept {
    return retry(stats_.syscalls.wait4, [&] { return os_.wait4(pid, status, flags, ru); });
  }
  int sys_waitid(idtype_t type, id_t id, siginfo_t* info, int flags) noexcept {
    return retry(stats_.syscalls.waitid, [&] { return os_.waitid(type, id, info, flags); });
  }
  int sys_kill(pid_t pid, int sig) noexcept {
    return retry(stats_.syscalls.kill, [&] { return os_.kill(pid, sig); });
  }
  int sys_pidfd_open(pid_t pid) noexcept {
    return retry(stats_.syscalls.pidfd_open, [&] { return os_.pidfd_open(pid, 0); });
  }
  int sys_epoll_ctl(int op, int fd, epoll_event* ev) noexcept {
    return retry(stats_.syscalls.epoll, [&] { return os_.epoll_ctl(epfd_, op, fd, ev); });
  }
  // Arms (EPOLL_CTL_ADD) or re-arms (EPOLL_CTL_MOD) a pidfd for one readiness report.
  int arm_pidfd(int op, pid_t pid, int fd) noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = static_cast<std::uint64_t>(pid);
    return sys_epoll_ctl(op, fd, &ev);
  }
  // The loop's clock, brought up to date first. uv_now() is the time cached when the
  // current loop iteration began; whatever ran since (a callback that worked for a
  // second, start-up code before uv_run) would otherwise be taken off every limit and
  // grace armed now. Every timer of ours is armed through these two.
  std::uint64_t clock_now() noexcept {
    uv_update_time(loop_);
    return uv_now(loop_);
  }
  void start_timer(uv_timer_t* t, uv_timer_cb cb, std::uint64_t timeout_ms,
                   std::uint64_t repeat_ms = 0) noexcept {
    uv_update_time(loop_);
    uv_timer_start(t, cb, timeout_ms, repeat_ms);
  }
  void sys_close(int fd) noexcept {
    // Never retried: on Linux the fd is released even when close reports EINTR. A pidfd
    // or an epoll fd has nothing to flush, so any other error is only reported.
    ++stats_.syscalls.close;
    if (int r = os_.close(fd); r < 0 && r != -EINTR) report_error(r, "close");
  }

  // --- sweeping ---
  // Every libuv callback of ours enters here: it runs on the loop thread, by definition.
  template <class Handle>
  static impl* enter(Handle* h) noexcept {
    auto* self = static_cast<impl*>(h->data);
    self->loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    return self;
  }
  static void on_sigchld(uv_signal_t* h, int /*signum*/) {
    auto* self = enter(h);
    // libuv calls this once per delivered signal, many times in a row after a storm. A
    // pending continuation already owes a sweep on the next iteration: sweeping again now
    // would run batch after batch inside one iteration and starve timers and sockets.
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&self->continuation_)) != 0) {
      ++self->stats_.coalesced_signals;
      return;
    }
    self->sweep();
  }
  static void on_idle(uv_idle_t* h) {
    auto* self = enter(h);
    uv_idle_stop(h);
    self->sweep();
  }
  static void on_retry(uv_timer_t* h) {
    auto* self = enter(h);
    self->rearm_parked();
    self->drain_inbox();
    self->sweep();
  }
  static void on_poll(uv_poll_t* h, int /*status*/, int /*events*/) { enter(h)->sweep(); }
  static void on_poll_timer(uv_timer_t* h) {
    auto* self = enter(h);
    ++self->stats_.poll_sweeps;
    // A poll also asks for each owned pid by number (O(owned)): the only way to notice,
    // while other children are alive, that someone else reaped one of ours.
    self->probe_each_ = self->policy_ != policy::pidfd;
    self->sweep();
    self->probe_each_ = false;
  }
  static void wake_loop(void* self) noexcept {
    uv_async_send(&static_cast<impl*>(self)->inbox_async_);
  }
  static void on_inbox(uv_async_t* h) {
    auto* self = enter(h);
    self->drain_inbox();
    self->after_change();
  }
  static void on_deadline(uv_timer_t* h) { enter(h)->run_deadlines(); }
  static void on_grace(uv_timer_t* h) {
    auto* self = enter(h);
    self->signal_unreaped(SIGKILL);
    self->after_change();
  }
  static void on_handle_closed(uv_handle_t* h);

  void sweep() noexcept;
  bool collect_own() noexcept;
  bool collect_all() noexcept;
  bool collect_pidfd() noexcept;
  bool collect_fdless() noexcept;
  void rearm_parked() noexcept;
  void set_sigchld_watch(bool on) noexcept;
  std::error_code start_pidfd() noexcept;
  exit_callback take_child(pid_t pid, bool* deadline_fired = nullptr) noexcept;
  void queue_exit(const exit_status& st) noexcept;
  void drain_inbox() noexcept;
  bool register_drained() noexcept;
  pid_t spawn_queued(const spawn_options& opts, exit_callback cb, std::error_code& ec) noexcept;
  void watch_queued(pid_t pid, exit_callback cb, std::error_code& ec) noexcept;
  void arm_deadline(pid_t pid, const uvreap::deadline& d, std::uint64_t elapsed_ms) noexcept;
  void run_deadlines() noexcept;
  void end_deadline() noexcept;
  void restart_deadline_timer() noexcept;
  void restore_subreaper() noexcept;
  bool scan() noexcept;
  outcome reap_pid(pid_t pid) noexcept;
  void lose_all() noexcept;
  void dispatch() noexcept;
  void after_change() noexcept;
  void update_ref() noexcept;
  void schedule_continuation() noexcept;
  void schedule_retry() noexcept;
  void adopt(pid_t pid, exit_callback cb) noexcept;
  std::error_code reserve_for_one(bool with_deadline) noexcept;
  uv_handle_t* main_handle() noexcept {
    return policy_ == policy::pidfd ? reinterpret_cast<uv_handle_t*>(&poll_)
                                    : reinterpret_cast<uv_handle_t*>(&sigchld_);
  }
  void signal_unreaped(int sig) noexcept;
  void finish_close() noexcept;
  void all_handles_closed() noexcept;

  // --- user code boundary: nothing thrown by user code passes these ---
  void invoke(const exit_callback& cb, const exit_status& st) noexcept;
  void report_exception(std::exception_ptr e, pid_t pid) noexcept;
  void report_error(int neg_errno, std::string_view what) noexcept;

  uv_loop_t* loop_;
  options opts_;
  sys::interface& os_;
  policy policy_;
  const unsigned generation_ = fork_generation();
  std::atomic<std::thread::id> loop_thread_{std::this_thread::get_id()};
  state state_ = state::open;
  bool claimed_all_ = false;
  bool subreaper_set_ = false;
  bool probe_each_ = false;  // this sweep (a safety poll) also asks for each owned pid  // we
                             // turned PR_SET_CHILD_SUBREAPER on; close turns it off
  std::chrono::milliseconds poll_every_{0};
  int open_handles_ = 0;

  uv_signal_t sigchld_{};
  uv_idle_t continuation_{};
  uv_timer_t retry_timer_{};
  uv_timer_t grace_timer_{};
  uv_timer_t poll_timer_{};
  uv_timer_t deadline_timer_{};
  uv_async_t inbox_async_{};

  // Time limits: a min-heap of steps; a step whose serial no longer matches its pid's
  // entry (the child was reaped) is stale and skipped.
  detail::deadline_queue deadlines_;

  // Registrations from other threads. Everything below the mutex is guarded by it.
  detail::thread_inbox inbox_{wake_loop, this};
  std::vector<detail::thread_inbox::item> drained_;  // taken from inbox_, not registered yet
  // Policy pidfd only.
  uv_poll_t poll_{};
  int epfd_ = -1;
  std::vector<epoll_event> events_;
  std::vector<pid_t> fdless_;  // owned children that got no pidfd
  std::vector<pid_t> parked_;  // readable pidfds with nothing to reap, re-armed later

  detail::child_table table_;
  std::vector<pending> batch_;
  uvreap::stats stats_{};
  std::function<void()> on_closed_;
  // Keeps this object alive from start() until libuv has released every handle, which
  // may be long after the owning reaper object is gone.
  std::shared_ptr<impl> self_;
};

std::error_code reaper::impl::start(const std::shared_ptr<impl>& self) noexcept {
  if (loop_ == nullptr || opts_.max_batch == 0 || opts_.poll_interval.count() < 0 ||
      (opts_.subreaper && opts_.reap_policy != policy::all)) {
    return errno_code(EINVAL);
  }

  // With SIGCHLD ignored (or SA_NOCLDWAIT) the kernel reaps children by itself and every
  // status would be lost; libuv's handler would also silently replace that disposition.
  // Refuse rather than take the process-wide setting away from whoever chose it.
  struct sigaction sa {};
  if (int r = retry(stats_.syscalls.sigaction, [&] { return os_.get_sigaction(SIGCHLD, &sa); });
      r < 0) {
    return errno_code(-r);
  }
  const bool ignored = (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_IGN;
  if (ignored || (sa.sa_flags & SA_NOCLDWAIT) != 0) return errno_code(EBUSY);

  // SIGCHLD blocked here may mean blocked in every thread (sd-event asks its users to do
  // that): then no SIGCHLD would ever wake the loop. Poll instead of hanging silently.
  sigset_t mask;
  sigemptyset(&mask);
  if (int r = retry(stats_.syscalls.other, [&] { return os_.get_sigmask(&mask); }); r < 0) {
    return errno_code(-r);
  }
  poll_every_ = opts_.poll_interval;
  if (poll_every_.count() == 0 && sigismember(&mask, SIGCHLD) == 1) poll_every_ = kAutoPollInterval;

  if (opts_.reap_policy == policy::all) {
    bool expected = false;
    if (!g_all_claimed.compare_exchange_strong(expected, true)) return errno_code(EBUSY);
    claimed_all_ = true;
  }
  try {
    batch_.reserve(std::min<std::size_t>(opts_.max_batch, 1024));
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }

  if (policy_ == policy::pidfd) {
    if (auto ec = start_pidfd(); ec) return ec;
  }

  if (int r = uv_signal_init(loop_, &sigchld_); r != 0) return errno_code(-r);
  // From here on the handles exist and can only be released through uv_close.
  self_ = self;
  sigchld_.data = this;
  uv_idle_init(loop_, &continuation_);
  continuation_.data = this;
  uv_timer_init(loop_, &retry_timer_);
  retry_timer_.data = this;
  uv_timer_init(loop_, &grace_timer_);
  grace_timer_.data = this;
  uv_timer_init(loop_, &poll_timer_);
  poll_timer_.data = this;
  uv_timer_init(loop_, &deadline_timer_);
  deadline_timer_.data = this;
  open_handles_ = 6;
  // Owned children keep the loop alive through the main handle; these never do.
  uv_unref(reinterpret_cast<uv_handle_t*>(&retry_timer_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&sigchld_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll_timer_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_timer_));
  if (int r = uv_async_init(loop_, &inbox_async_, on_inbox); r != 0) {
    state_ = state::closing;
    finish_close();
    return errno_code(-r);
  }
  inbox_async_.data = this;
  ++open_handles_;
  uv_unref(reinterpret_cast<uv_handle_t*>(&inbox_async_));

  if (opts_.subreaper) {
    int was = 0;
    int r = retry(stats_.syscalls.other, [&] { return os_.get_child_subreaper(&was); });
    if (r == 0 && was == 0) {
      r = retry(stats_.syscalls.other, [&] { return os_.set_child_subreaper(1); });
      subreaper_set_ = r == 0;
    }
    if (r < 0) {
      state_ = state::closing;
      finish_close();
      return errno_code(-r);
    }
  }

  if (policy_ == policy::pidfd) {
    // No SIGCHLD: the epoll set of pidfds is the only source (the signal watcher starts
    // only while some child has no pidfd).
    int r = uv_poll_init(loop_, &poll_, epfd_);
    if (r == 0) {
      poll_.data = this;
      ++open_handles_;
      r = uv_poll_start(&poll_, UV_READABLE, on_poll);
      uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
    }
    if (r != 0) {
      state_ = state::closing;
      finish_close();
      return errno_code(-r);
    }
    update_ref();
    return {};
  }
  if (int r = uv_signal_start(&sigchld_, on_sigchld, SIGCHLD); r != 0) {
    state_ = state::closing;
    finish_close();
    return errno_code(-r);
  }
  // Children may have exited before the watcher started, and their SIGCHLD is gone: look
  // once on the first loop iteration (never from inside the constructor). A scheduled
  // continuation is work owed, so it keeps the loop alive for that one iteration.
  schedule_continuation();
  update_ref();
  return {};
}

void reaper::impl::restore_subreaper() noexcept {
  if (!subreaper_set_) return;
  subreaper_set_ = false;
  if (int r = retry(stats_.syscalls.other, [&] { return os_.set_child_subreaper(0); }); r < 0) {
    report_error(r, "prctl(PR_SET_CHILD_SUBREAPER, 0)");
  }
}

std::error_code reaper::impl::start_pidfd() noexcept {
  const int probe = sys_pidfd_open(::getpid());
  if (probe == -ENOSYS) {
    policy_ = policy::own;  // documented fallback for kernels before 5.3
    return {};
  }
  if (probe < 0) return errno_code(-probe);
  sys_close(probe);
  try {
    events_.resize(std::min<std::size_t>(opts_.max_batch, 1024));
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  const int fd = retry(stats_.syscalls.epoll, [&] { return os_.epoll_create1(EPOLL_CLOEXEC); });
  if (fd < 0) return errno_code(-fd);
  epfd_ = fd;
  return {};
}

void reaper::impl::sweep() noexcept {
  if (state_ == state::closed) return;
  ++stats_.sweeps;
  if (inbox_.has_work()) drain_inbox();
  bool more = false;
  switch (policy_) {
    case policy::own:
      more = collect_own();
      break;
    case policy::all:
      more = collect_all();
      break;
    case policy::pidfd:
      more = collect_pidfd();
      break;
  }
  if (batch_.empty()) ++stats_.empty_sweeps;
  stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch_.size());
  if (more) {
    // A child that is already a zombie raises no new SIGCHLD: the rest of this sweep
    // must be scheduled by us, or it would wait for some unrelated exit.
    ++stats_.continuations;
    schedule_continuation();
  }
  dispatch();
  after_change();
}

// Returns true when the batch filled up and more exits may be waiting.
bool reaper::impl::collect_own() noexcept {
  if (table_.empty()) return false;
  if (probe_each_) {
    probe_each_ = false;
    ++stats_.fallback_scans;
    if (scan()) return true;
  }
  bool scanned = false;
  while (batch_.size() < opts_.max_batch) {
    // Peek at the oldest waitable child without reaping it: if it is ours we take it by
    // pid, if not we leave it to its owner (uv_spawn, another reaper, the program).
    siginfo_t si{};
    const int r = sys_waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
    if (r == -ECHILD) {
      // The process has no children at all, yet we still hold some: someone else took
      // their statuses.
      lose_all();
      return false;
    }
    if (r < 0) {
      report_error(r, "waitid(P_ALL, WNOWAIT)");
      schedule_retry();
      return false;
    }
    if (si.si_pid == 0) return false;  // nothing has exited
    if (table_.contains(si.si_pid)) {
      ++stats_.fast_path_hits;
      if (reap_pid(si.si_pid) != outcome::reaped) return false;
      continue;
    }
    // The oldest zombie is foreign and hides ours from the peek until its owner reaps
    // it. Ask for each of ours by pid instead, once per sweep: if the foreign zombie is
    // never reaped, every sweep pays O(live children) — counted in fallback_scans.
    if (scanned) return false;
    scanned = true;
    ++stats_.fallback_scans;
    return scan();
  }
  return true;
}

bool reaper::impl::collect_pidfd() noexcept {
  if (!fdless_.empty() && collect_fdless()) return true;
  const std::size_t room = std::min(events_.size(), opts_.max_batch - batch_.size());
  if (room == 0) return true;
  const int n = retry(stats_.syscalls.epoll, [&] {
    return os_.epoll_wait(epfd_, events_.data(), static_cast<int>(room), 0);
  });
  if (n < 0) {
    report_error(n, "epoll_wait");
    schedule_retry();
    return false;
  }
  for (int i = 0; i < n; ++i) {
    const auto pid = static_cast<pid_t>(events_[static_cast<std::size_t>(i)].data.u64);
    if (!table_.contains(pid)) continue;
    // Readable means the process exited, but not always that *we* can reap it yet (a
    // tracer sees a traced child's exit first). The pidfd was armed one-shot, so it
    // stays quiet until rearm_parked(); waiting for it here would block the loop.
    if (reap_pid(pid) == outcome::running) {
      ++stats_.pidfd_not_reapable;
      try {
        parked_.push_back(pid);
      } catch (const std::bad_alloc&) {
        // Re-arm at once instead: it may fire again next iteration, but is not lost.
        if (auto* e = table_.find(pid)) arm_pidfd(EPOLL_CTL_MOD, pid, e->pidfd);
      }
      schedule_retry();
    } else if (state_ == state::closed) {
      break;
    }
  }
  // What is left stays readable: the level-triggered uv_poll fires again on the next
  // iteration, after the rest of the loop has run.
  return false;
}

bool reaper::impl::collect_fdless() noexcept {
  ++stats_.fallback_scans;
  for (std::size_t i = 0; i < fdless_.size();) {
    if (batch_.size() >= opts_.max_batch) return true;
    switch (reap_pid(fdless_[i])) {
      case outcome::reaped:
        break;  // take_child moved the last pid into slot i
      case outcome::running:
        ++i;
        break;
      case outcome::failed:
        return false;
    }
  }
  return false;
}

void reaper::impl::rearm_parked() noexcept {
  for (pid_t pid : parked_) {
    auto* e = table_.find(pid);
    if (e == nullptr || e->pidfd < 0) continue;
    if (int r = arm_pidfd(EPOLL_CTL_MOD, pid, e->pidfd); r < 0) report_error(r, "epoll_ctl");
  }
  parked_.clear();
}

void reaper::impl::set_sigchld_watch(bool on) noexcept {
  const bool watching = uv_is_active(reinterpret_cast<uv_handle_t*>(&sigchld_)) != 0;
  if (on == watching || state_ == state::closed) return;
  if (on) {
    if (int r = uv_signal_start(&sigchld_, on_sigchld, SIGCHLD); r != 0) {
      report_error(r, "uv_signal_start(SIGCHLD)");
      schedule_retry();
      return;
    }
  } else {
    uv_signal_stop(&sigchld_);
  }
}

exit_callback reaper::impl::take_child(pid_t pid, bool* deadline_fired) noexcept {
  detail::child_table::entry rest{};
  exit_callback cb = table_.take(pid, &rest);
  if (!cb) return cb;  // not ours: callbacks are never empty (EINVAL at the door)
  if (deadline_fired != nullptr) *deadline_fired = rest.deadline_fired;
  if (rest.deadline_serial != 0) end_deadline();
  if (rest.pidfd >= 0) {
    sys_close(rest.pidfd);  // also takes it out of the epoll set
  } else if (!fdless_.empty()) {
    const auto it = std::find(fdless_.begin(), fdless_.end(), pid);
    if (it != fdless_.end()) {
      *it = fdless_.back();
      fdless_.pop_back();
      if (fdless_.empty()) set_sigchld_watch(false);
    }
  }
  return cb;
}

bool reaper::impl::scan() noexcept {
  for (std::size_t i = 0; i < table_.size();) {
    if (batch_.size() >= opts_.max_batch) return true;
    switch (reap_pid(table_.at(i).pid)) {
      case outcome::reaped:
        break;  // entry i now holds what was the last entry: look at i again
      case outcome::running:
        ++i;
        break;
      case outcome::failed:
        return false;  // retried on the timer
    }
  }
  return false;
}

bool reaper::impl::collect_all() noexcept {
  while (batch_.size() < opts_.max_batch) {
    int status = 0;
    ::rusage ru{};
    const pid_t r = sys_wait4(-1, &status, WNOHANG, &ru);
    if (r == 0) {
      if (!probe_each_) return false;
      probe_each_ = false;
      ++stats_.fallback_scans;
      return scan();
    }
    if (r == -ECHILD) {
      lose_all();
      return false;
    }
    if (r < 0) {
      report_error(r, "wait4(-1, WNOHANG)");
      schedule_retry();
      return false;
    }
    bool fired = false;
    exit_callback cb = take_child(r, &fired);
    if (!cb) {
      // Another thread may have spawned it and not queued it yet: it holds the inbox
      // lock from before posix_spawn until the pid is queued, so draining settles it.
      drain_inbox();
      cb = take_child(r, &fired);
    }
    const bool orphan = !cb;
    ++(orphan ? stats_.orphans_reaped : stats_.exits_reaped);
    batch_.push_back(pending{exit_status::from_wait(r, status, &ru).with_deadline_fired(fired),
                             std::move(cb), orphan});
  }
  return true;
}

reaper::impl::outcome reaper::impl::reap_pid(pid_t pid) noexcept {
  int status = 0;
  ::rusage ru{};
  const pid_t r = sys_wait4(pid, &status, WNOHANG, &ru);
  if (r == pid) {
    ++stats_.exits_reaped;
    queue_exit(exit_status::from_wait(pid, status, &ru));
    return outcome::reaped;
  }
  if (r == 0) return outcome::running;
  if (r == -ECHILD) {
    // Not our child any more: a foreign waitpid(-1) or an auto-reaping disposition took
    // it. Its status is gone, but its callback must still run, once.
    ++stats_.lost;
    queue_exit(exit_status::make_lost(pid));
    return outcome::reaped;
  }
  report_error(r, "wait4(pid, WNOHANG)");
  schedule_retry();
  return outcome::failed;
}

void reaper::impl::lose_all() noexcept {
  while (!table_.empty()) {
    const pid_t pid = table_.at(table_.size() - 1).pid;
    ++stats_.lost;
    queue_exit(exit_status::make_lost(pid));
  }
}

void reaper::impl::queue_exit(const exit_status& st) noexcept {
  bool fired = false;
  exit_callback cb = take_child(st.pid(), &fired);
  batch_.push_back(pending{st.with_deadline_fired(fired), std::move(cb)});
}

void reaper::impl::dispatch() noexcept {
  // Reaping is finished before any callback runs, so a callback that spawns, watches,
  // kills or closes never sees a half-updated table. batch_.size() is read on every
  // turn: a callback's spawn may append a lost record for a recycled pid.
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    if (state_ != state::open) break;  // closed from a callback: no callback after close
    pending p = std::move(batch_[i]);
    if (p.orphan) {
      if (opts_.on_orphan) invoke(opts_.on_orphan, p.status);
    } else {
      invoke(p.callback, p.status);
    }
  }
  batch_.clear();
}

void reaper::impl::after_change() noexcept {
  if (state_ == state::closing && table_.empty()) {
    finish_close();
  } else {
    update_ref();
  }
}

void reaper::impl::update_ref() noexcept {
  if (state_ == state::closed) return;
  // uv_ref/uv_unref are idempotent flag flips; the loop counts each handle once.
  table_.empty() ? uv_unref(main_handle()) : uv_ref(main_handle());
  if (poll_every_.count() > 0) {
    const bool want = state_ == state::open && (!table_.empty() || policy_ == policy::all);
    auto* h = reinterpret_cast<uv_handle_t*>(&poll_timer_);
    if (want && uv_is_active(h) == 0) {
      const auto ms = static_cast<std::uint64_t>(poll_every_.count());
      start_timer(&poll_timer_, on_poll_timer, ms, ms);
    } else if (!want && uv_is_active(h) != 0) {
      uv_timer_stop(&poll_timer_);
    }
  }
}

void reaper::impl::schedule_continuation() noexcept {
  if (state_ == state::closed) return;
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&continuation_)) == 0) {
    uv_idle_start(&continuation_, on_idle);
  }
}

void reaper::impl::schedule_retry() noexcept {
  if (state_ == state::closed) return;
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_)) == 0) {
    start_timer(&retry_timer_, on_retry, kRetryDelayMs);
  }
}

std::error_code reaper::impl::reserve_for_one(bool with_deadline) noexcept {
  try {
    table_.reserve(table_.size() + 1);
    batch_.reserve(batch_.size() + 1);
    if (policy_ == policy::pidfd) fdless_.reserve(fdless_.size() + 1);
    // A step is replaced by at most one next step, so one slot per time limit suffices.
    if (with_deadline) deadlines_.reserve_one();
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  return {};
}

void reaper::impl::adopt(pid_t pid, exit_callback cb) noexcept {
  // The caller reserved room (reserve_for_one), so nothing here can fail.
  if (table_.contains(pid)) {
    // The kernel handed out this pid again, so the child we held under it was reaped by
    // someone else before we noticed: deliver that one as lost first.
    ++stats_.lost;
    queue_exit(exit_status::make_lost(pid));
    schedule_continuation();
  }
  int fd = -1;
  if (policy_ == policy::pidfd) {
    fd = sys_pidfd_open(pid);
    if (fd >= 0 && arm_pidfd(EPOLL_CTL_ADD, pid, fd) < 0) {
      sys_close(fd);
      fd = -1;
    }
    if (fd < 0) {
      // Out of fds (EMFILE, ENFILE) or kernel memory: the child is ours all the same,
      // reaped by per-pid wait4 on SIGCHLD. It may have exited already, and its SIGCHLD
      // gone before the watcher started, so look once on the next iteration too.
      ++stats_.pidfd_fallbacks;
      fdless_.push_back(pid);
      set_sigchld_watch(true);
      schedule_continuation();
    }
  }
  table_.insert(pid, std::move(cb), fd);
  update_ref();
}

pid_t reaper::impl::spawn(const spawn_options& opts, exit_callback cb,
                          std::error_code& ec) noexcept {
  if (!on_loop_thread()) return spawn_queued(opts, std::move(cb), ec);
  if (ec = unusable(); ec) return -1;
  if (!cb) {
    ec = errno_code(EINVAL);
    return -1;
  }
  detail::spawn_plan plan;
  if (ec = plan.prepare(opts); ec) return -1;
  if (ec = reserve_for_one(opts.time_limit.has_value()); ec) return -1;
  pid_t pid = -1;
  const int r = retry(stats_.syscalls.spawn, [&] {
    return os_.spawn(&pid, plan.file(), plan.actions(), plan.attr(), plan.argv(), plan.envp(),
                     plan.search_path());
  });
  if (r < 0) {
    ec = errno_code(-r);
    return -1;
  }
  // No sweep can run between posix_spawn returning and this insert (both are on the
  // loop thread), so even a child that exited at once is found by the next sweep.
  adopt(pid, std::move(cb));
  if (opts.time_limit) arm_deadline(pid, *opts.time_limit, 0);
  return pid;
}

pid_t reaper::impl::spawn_queued(const spawn_options& opts, exit_callback cb,
                                 std::error_code& ec) noexcept {
  if (!cb) {
    ec = errno_code(EINVAL);
    return -1;
  }
  if (fork_generation() != generation_) {
    ec = errno_code(ECHILD);
    return -1;
  }
  detail::spawn_plan plan;
  if (ec = plan.prepare(opts); ec) return -1;
  auto make = [&](uvreap::stats::syscall_counts& calls) {
    pid_t pid = -1;
    const int r = retry_eintr(calls.spawn, calls.eintr, [&] {
      return os_.spawn(&pid, plan.file(), plan.actions(), plan.attr(), plan.argv(), plan.envp(),
                       plan.search_path());
    });
    return r < 0 ? r : pid;
  };
  auto discard = [&](pid_t pid, uvreap::stats::syscall_counts& calls) {
    (void)retry_eintr(calls.kill, calls.eintr, [&] { return os_.kill(pid, SIGKILL); });
    int status = 0;
    (void)retry_eintr(calls.wait4, calls.eintr,
                      [&] { return os_.wait4(pid, &status, 0, nullptr); });
  };
  // Under policy `all` the loop thread reaps every child, so the pid must be queued
  // before the loop thread can meet its exit: the inbox stays locked across posix_spawn,
  // and the loop thread takes the lock before calling an exit an orphan. The other
  // policies only reap registered pids, so an unregistered zombie just waits.
  detail::thread_inbox::item it;
  it.callback = std::move(cb);
  it.time_limit = opts.time_limit;
  return inbox_.submit_spawn(std::move(it), policy_ == policy::all, make, discard, ec);
}

void reaper::impl::watch(pid_t pid, exit_callback cb, std::error_code& ec) noexcept {
  if (!on_loop_thread()) return watch_queued(pid, std::move(cb), ec);
  if (ec = unusable(); ec) return;
  if (pid <= 0 || !cb) {
    ec = errno_code(EINVAL);
    return;
  }
  if (table_.contains(pid)) {
    ec = errno_code(EBUSY);
    return;
  }
  // Is it an unreaped child of ours, and has it exited already? One peek answers both
  // without reaping it.
  siginfo_t si{};
  if (int r = sys_waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT); r < 0) {
    ec = errno_code(-r);
    return;
  }
  if (ec = reserve_for_one(false); ec) return;
  adopt(pid, std::move(cb));
  // Its SIGCHLD may have come and gone: sweep on the next iteration (never from here,
  // so that the callback cannot run inside watch()). A pidfd of a zombie is readable at
  // once, which has the same effect.
  if (si.si_pid == pid) schedule_continuation();
}

void reaper::impl::watch_queued(pid_t pid, exit_callback cb, std::error_code& ec) noexcept {
  if (pid <= 0 || !cb) {
    ec = errno_code(EINVAL);
    return;
  }
  if (fork_generation() != generation_) {
    ec = errno_code(ECHILD);
    return;
  }
  auto peek = [&](uvreap::stats::syscall_counts& calls) {
    siginfo_t si{};
    return retry_eintr(calls.waitid, calls.eintr, [&] {
      return os_.waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT);
    });
  };
  // Under policy `all` the loop thread may reap this pid as an orphan at any moment. With
  // the peek made under the inbox's lock, either it finds the child gone (ECHILD,
  // returned), or the loop thread, which takes the lock before calling an exit an
  // orphan, finds it queued.
  detail::thread_inbox::item it;
  it.pid = pid;
  it.callback = std::move(cb);
  inbox_.submit_watch(std::move(it), policy_ == policy::all, peek, ec);
}

void reaper::impl::drain_inbox() noexcept {
  if (!register_drained()) return;  // still out of memory for an earlier batch
  inbox_.take_all(drained_, stats_.syscalls);
  register_drained();
}

bool reaper::impl::register_drained() noexcept {
  std::size_t i = 0;
  for (; i < drained_.size(); ++i) {
    detail::thread_inbox::item& q = drained_[i];
    if (q.watched && table_.contains(q.pid)) {
      report_error(-EBUSY, "watch from another thread: pid already watched");
      continue;
    }
    if (auto ec = reserve_for_one(q.time_limit.has_value()); ec) {
      // Keep it (and the rest) and try again on the retry timer; nothing is lost.
      report_error(-ENOMEM, "registering a child from another thread");
      schedule_retry();
      break;
    }
    ++stats_.queued_registrations;
    adopt(q.pid, std::move(q.callback));
    if (q.time_limit) {
      const auto waited = std::chrono::steady_clock::now() - q.made;
      arm_deadline(q.pid, *q.time_limit,
                   static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()));
    }
    // It may have exited already, its SIGCHLD consumed by a sweep that did not know it.
    schedule_continuation();
  }
  drained_.erase(drained_.begin(), drained_.begin() + static_cast<std::ptrdiff_t>(i));
  return drained_.empty();
}

void reaper::impl::arm_deadline(pid_t pid, const uvreap::deadline& d,
                                std::uint64_t elapsed_ms) noexcept {
  auto* e = table_.find(pid);
  if (e == nullptr) return;
  const auto after = static_cast<std::uint64_t>(d.after.count());
  const std::uint64_t wait = after > elapsed_ms ? after - elapsed_ms : 0;
  // Room was reserved with the table entry (reserve_for_one).
  e->deadline_serial = deadlines_.arm(pid, clock_now() + wait, d.signal,
                                      static_cast<std::uint32_t>(d.grace.count()), d.process_group);
  restart_deadline_timer();
}

void reaper::impl::run_deadlines() noexcept {
  const std::uint64_t now = clock_now();
  // Each due step reaps first and signals only what is still running, so batch_ bounds
  // how many steps one run takes; the rest are due again on the next iteration.
  detail::deadline_queue::step step{};
  while (batch_.size() < opts_.max_batch && deadlines_.pop_due(now, step)) {
    auto* e = table_.find(step.pid);
    if (e == nullptr || e->deadline_serial != step.serial) continue;  // reaped meanwhile
    // libuv runs timers before it polls for I/O, so a child may have exited in time while
    // the loop thread was busy, its SIGCHLD byte or readable pidfd still unread. Such a
    // child is reaped here with its own status, never signalled and never flagged (the
    // step that is skipped is counted in stats::signals_skipped). Reaping by pid also
    // settles the race with an exit right after this check: the pid stays ours until it
    // is reaped, so a signal sent to a child that exits meanwhile reaches a zombie.
    if (reap_pid(step.pid) == outcome::reaped) {
      ++stats_.signals_skipped;
      continue;
    }
    const bool first = !e->deadline_fired;
    if (first) {
      e->deadline_fired = true;
      ++stats_.deadlines_fired;
    }
    const int sig = step.final && !first ? SIGKILL : step.signal;
    // The pid is unreaped (it is in the table), so it and its group id are still ours.
    if (int r = sys_kill(step.group ? -step.pid : step.pid, sig); r < 0 && r != -ESRCH) {
      report_error(r, "kill (time limit)");
    }
    if (step.final) {
      e->deadline_serial = 0;
      deadlines_.ended();
    } else {
      deadlines_.follow_with_kill(step, now);
    }
  }
  restart_deadline_timer();
  // Children found exited above are delivered like a sweep's batch.
  dispatch();
  after_change();
}

void reaper::impl::end_deadline() noexcept {
  // A child with a pending time limit was reaped: once none is left, the queue drops
  // the stale steps, and the timer stops, so no signal and no wake-up outlives them.
  deadlines_.ended();
  if (deadlines_.live() == 0) uv_timer_stop(&deadline_timer_);
}

void reaper::impl::restart_deadline_timer() noexcept {
  if (state_ == state::closed) return;
  const auto due = deadlines_.next_due();
  if (!due) {
    uv_timer_stop(&deadline_timer_);
    return;
  }
  const std::uint64_t now = clock_now();
  uv_timer_start(&deadline_timer_, on_deadline, *due > now ? *due - now : 0, 0);
}

void reaper::impl::kill(pid_t pid, int sig, std::error_code& ec) noexcept {
  if (ec = unusable(); ec) return;
  // kill(0) and kill(-n) signal whole process groups, kill(-1) everything we may.
  if (pid <= 0 || sig < 0 || sig >= NSIG) {
    ec = errno_code(EINVAL);
    return;
  }
  // Only a pid still in the table is certainly ours: once reaped, the kernel may give
  // the number to an unrelated process, so we never signal it.
  if (!table_.contains(pid)) {
    ec = errno_code(ESRCH);
    return;
  }
  if (int r = sys_kill(pid, sig); r < 0) ec = errno_code(-r);
}

void reaper::impl::signal_unreaped(int sig) noexcept {
  // Called while closing: a child whose exit is already waiting is reaped (its record
  // dropped, as every record is after close) instead of signalled, and counted in
  // stats::signals_skipped.
  for (std::size_t i = 0; i < table_.size();) {
    const pid_t pid = table_.at(i).pid;
    if (reap_pid(pid) == outcome::reaped) {
      ++stats_.signals_skipped;
      if (batch_.size() >= opts_.max_batch) dispatch();  // drops them: we are closing
      continue;  // entry i now holds what was the last entry
    }
    // ESRCH cannot happen for an unreaped child (a zombie accepts signals); any error is
    // reported and the grace period's SIGKILL or the child's own exit still ends it.
    if (int r = sys_kill(pid, sig); r < 0) report_error(r, "kill");
    ++i;
  }
  dispatch();
}

bool reaper::impl::close(const close_options& how, std::function<void()> on_closed) noexcept {
  if (state_ != state::open) return false;
  // The queue closes (later calls from other threads get ESTALE); what it holds becomes
  // ordinary children, terminated or left running like the others.
  inbox_.shut();
  drain_inbox();
  state_ = state::closing;
  restore_subreaper();
  on_closed_ = std::move(on_closed);
  if (claimed_all_) {
    g_all_claimed.store(false);
    claimed_all_ = false;
  }
  if (how.terminate && !table_.empty()) signal_unreaped(how.signal);
  if (how.terminate && !table_.empty()) {
    // The grace is counted from this call, whatever the loop did earlier in its iteration.
    start_timer(&grace_timer_, on_grace,
                static_cast<std::uint64_t>(std::max<std::int64_t>(how.grace.count(), 0)));
    // Some may be zombies already, whose SIGCHLD was consumed earlier.
    schedule_continuation();
    update_ref();
    return true;
  }
  finish_close();
  return true;
}

void reaper::impl::finish_close() noexcept {
  state_ = state::closed;
  for (std::size_t i = 0; i < table_.size(); ++i) {
    if (table_.at(i).pidfd >= 0) sys_close(table_.at(i).pidfd);
  }
  table_.clear();
  fdless_.clear();
  parked_.clear();
  deadlines_.clear();
  for (auto* h :
       {reinterpret_cast<uv_handle_t*>(&sigchld_), reinterpret_cast<uv_handle_t*>(&continuation_),
        reinterpret_cast<uv_handle_t*>(&retry_timer_),
        reinterpret_cast<uv_handle_t*>(&grace_timer_), reinterpret_cast<uv_handle_t*>(&poll_timer_),
        reinterpret_cast<uv_handle_t*>(&deadline_timer_),
        reinterpret_cast<uv_handle_t*>(&inbox_async_), reinterpret_cast<uv_handle_t*>(&poll_)}) {
    // poll_ exists only under policy pidfd, inbox_async_ only once initialised (a
    // zeroed handle has no loop).
    if (h->loop != nullptr && uv_is_closing(h) == 0) uv_close(h, on_handle_closed);
  }
}

void reaper::impl::on_handle_closed(uv_handle_t* h) {
  auto* self = static_cast<impl*>(h->data);
  if (--self->open_handles_ == 0) self->all_handles_closed();
}

void reaper::impl::all_handles_closed() noexcept {
  // Dropping self_ may destroy *this: take it first and touch no member afterwards.
  std::shared_ptr<impl> keep = std::move(self_);
  std::function<void()> cb = std::move(on_closed_);
  if (cb) {
    try {
      cb();
    } catch (...) {
      ++stats_.callback_exceptions;
      report_exception(std::current_exception(), 0);
    }
  }
}

void reaper::impl::invoke(const exit_callback& cb, const exit_status& st) noexcept {
  try {
    cb(st);
  } catch (...) {
    ++stats_.callback_exceptions;
    report_exception(std::current_exception(), st.pid());
  }
}

void reaper::impl::report_exception(std::exception_ptr e, pid_t pid) noexcept {
  if (opts_.on_exception) {
    opts_.on_exception(std::move(e), pid);  // a throwing hook terminates: noexcept
    return;
  }
  std::fprintf(stderr, "uvreap: callback for pid %d threw: %s\n", static_cast<int>(pid),
               what_of(std::move(e)));
}

void reaper::impl::report_error(int neg_errno, std::string_view what) noexcept {
  ++stats_.errors;
  const std::error_code ec = errno_code(-neg_errno);
  if (opts_.on_error) {
    try {
      opts_.on_error(ec, what);
    } catch (...) {
      report_exception(std::current_exception(), 0);
    }
    return;
  }
  std::fprintf(stderr, "uvreap: %.*s failed: %s\n", static_cast<int>(what.size()), what.data(),
               ec.message().c_str());
}

// ---------------------------------------------------------------------------------------
// reaper: the owning front of impl.

namespace {

std::error_code stale() noexcept {
  return errno_code(ESTALE);
}

template <class F>
auto or_throw(const char* what, F&& f) {
  std::error_code ec;
  auto r = f(ec);
  if (ec) throw std::system_error(ec, what);
  return r;
}

}  // namespace

reaper::reaper(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}

reaper::reaper(uv_loop_t* loop, options opts) {
  std::error_code ec;
  auto r = create(loop, std::move(opts), ec);
  if (!r) throw std::system_error(ec, "uvreap: reaper");
  impl_ = std::move(r->impl_);
}

std::optional<reaper> reaper::create(uv_loop_t* loop, options opts, std::error_code& ec) noexcept {
  ec.clear();
  std::shared_ptr<impl> p;
  try {
    p = std::make_shared<impl>(loop, std::move(opts));
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return std::nullopt;
  }
  if (ec = p->start(p); ec) return std::nullopt;
  return std::optional<reaper>(reaper(std::move(p)));
}

reaper::reaper(reaper&& other) noexcept = default;

reaper& reaper::operator=(reaper&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->close(impl_->opts().on_destroy, {});
    impl_ = std::move(other.impl_);
  }
  return *this;
}

reaper::~reaper() {
  if (impl_) impl_->close(impl_->opts().on_destroy, {});
}

pid_t reaper::spawn(const spawn_options& opts, exit_callback on_exit,
                    std::error_code& ec) noexcept {
  if (!impl_) {
    ec = stale();
    return -1;
  }
  return impl_->spawn(opts, std::move(on_exit), ec);
}

pid_t reaper::spawn(const spawn_options& opts, exit_callback on_exit) {
  return or_throw("uvreap: spawn",
                  [&](std::error_code& ec) { return spawn(opts, std::move(on_exit), ec); });
}

void reaper::watch(pid_t pid, exit_callback on_exit, std::error_code& ec) noexcept {
  if (!impl_) {
    ec = stale();
    return;
  }
  impl_->watch(pid, std::move(on_exit), ec);
}

void reaper::watch(pid_t pid, exit_callback on_exit) {
  or_throw("uvreap: watch", [&](std::error_code& ec) {
    watch(pid, std::move(on_exit), ec);
    return 0;
  });
}

void reaper::kill(pid_t pid, int sig, std::error_code& ec) noexcept {
  if (!impl_) {
    ec = stale();
    return;
  }
  impl_->kill(pid, sig, ec);
}

void reaper::kill(pid_t pid, int sig) {
  or_throw("uvreap: kill", [&](std::error_code& ec) {
    kill(pid, sig, ec);
    return 0;
  });
}

bool reaper::close(close_options how, std::function<void()> on_closed) noexcept {
  return impl_ && impl_->close(how, std::move(on_closed));
}

bool reaper::watching(pid_t pid) const noexcept {
  return impl_ && impl_->watching(pid);
}
std::size_t reaper::size() const noexcept {
  return impl_ ? impl_->size() : 0;
}
bool reaper::closed() const noexcept {
  return !impl_ || !impl_->open();
}
uvreap::stats reaper::stats() const noexcept {
  return impl_ ? impl_->counters() : uvreap::stats{};
}
uv_loop_t* reaper::loop() const noexcept {
  return impl_ ? impl_->loop() : nullptr;
}
policy reaper::reap_policy() const noexcept {
  return impl_ ? impl_->effective_policy() : policy::own;
}
std::chrono::milliseconds reaper::poll_interval() const noexcept {
  return impl_ ? impl_->poll_interval() : std::chrono::milliseconds{0};
}

}  // namespace uvreap
