// SPDX-License-Identifier: MIT
// uvreap-bench: the strategies, and one storm run of one of them.
//
// Every strategy is measured the same way: a child stamps CLOCK_MONOTONIC into the
// shared area just before _exit, and the parent stamps again first thing in the code
// that learns of the exit. What differs is only how that code is reached:
//   own, all  uvreap's reaper (SIGCHLD via uv_signal_t, sweep on the loop thread)
//   pidfd     uvreap's reaper, one epoll set of pidfds behind a uv_poll_t
//   uv_spawn  libuv's uv_spawn + exit_cb, what a libuv program has without uvreap
//   floor     a thread blocked in waitid(P_ALL, WEXITED), handing exits to the loop
//             through uv_async_t: the practical lower bound for exit -> loop code
#include "runner.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <uvreap/reaper.hpp>

#include "waitpid_count.hpp"

extern char** environ;

namespace uvreap::bench {

percentiles summarize(std::vector<double> v) {
  percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest sample with at least q of all samples at or below it.
  auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = v.back();
  return p;
}

bool known_strategy(const std::string& name) {
  return name == "own" || name == "all" || name == "pidfd" || name == "uv_spawn" || name == "floor";
}

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

double cpu_us(int who = RUSAGE_SELF) {
  rusage ru{};
  ::getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

std::vector<std::string> child_argv(const config& cfg, const shared_area& a, role r,
                                    std::uint32_t i) {
  return {cfg.child_exe, cfg.area_as_fd ? std::string("fd:3") : a.path(),
          std::to_string(static_cast<int>(r)), std::to_string(i)};
}

// What the reaper's strategies spawn for slot `i`: the helper, with --tree and --sandbox.
spawn_options reaper_child(const config& cfg, const shared_area& a, role r, std::uint32_t i) {
  spawn_options o;
  o.argv = child_argv(cfg, a, r, i);
  o.tree = cfg.tree;
  o.sandbox = cfg.sandbox_opts;
  if (cfg.area_as_fd) {
    o.stdio_map = {stdio::inherit(), stdio::inherit(), stdio::inherit(), stdio::from_fd(a.fd())};
  }
  return o;
}

// Creates one child by fork or by posix_spawn of the helper; any thread.
pid_t create_child(const config& cfg, shared_area& a, role r, std::uint32_t i) {
  if (cfg.spawn == creation::fork) {
    const pid_t pid = ::fork();
    if (pid < 0) fail("fork", errno);
    if (pid == 0) child_body(a.head(), a.slots(), r, i);
    return pid;
  }
  auto args = child_argv(cfg, a, r, i);
  std::vector<char*> argv;
  for (auto& s : args)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int e = ::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ); e != 0) {
    fail("posix_spawn " + args[0], e);
  }
  return pid;
}

// What every strategy reports into; loop thread only.
struct tracker {
  shared_area& area;
  std::uint32_t measured_count;
  std::vector<std::uint8_t> deliveries;
  std::uint32_t delivered = 0;
  std::uint32_t background_done = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t wrong = 0;
  std::uint64_t last_ns = 0;
  std::vector<double> latency_us;
  std::vector<double> wake_us;

  tracker(shared_area& a, std::uint32_t n) : area(a), measured_count(n), deliveries(n, 0) {
    latency_us.reserve(n);
  }

  // `cb_ns` was taken first thing in the callback.
  void exit_of(std::uint32_t slot, bool exited, int code, std::uint64_t cb_ns,
               std::uint64_t wake_ns = 0) {
    if (slot >= measured_count) {
      ++background_done;
      return;
    }
    if (deliveries[slot]++ != 0) {
      ++duplicated;
      return;
    }
    ++delivered;
    last_ns = std::max(last_ns, cb_ns);
    const std::uint64_t stamped = area.slots()[slot].exit_ns.load(std::memory_order_acquire);
    if (!exited || code != expected_code(slot) || stamped == 0 || stamped > cb_ns) {
      ++wrong;
      return;
    }
    latency_us.push_back(static_cast<double>(cb_ns - stamped) / 1000.0);
    if (wake_ns != 0) wake_us.push_back(static_cast<double>(wake_ns - stamped) / 1000.0);
  }
};

// Runs the loop until `done` or the deadline; false on the deadline.
template <class Done>
bool run_until(uv_loop_t* loop, double seconds, Done&& done) {
  struct watchdog {
    uv_timer_t t{};
    bool fired = false;
  } w;
  uv_timer_init(loop, &w.t);
  w.t.data = &w;
  uv_timer_start(
      &w.t,
      [](uv_timer_t* t) {
        static_cast<watchdog*>(t->data)->fired = true;
        uv_stop(t->loop);
      },
      static_cast<std::uint64_t>(seconds * 1000), 0);
  while (!done() && !w.fired)
    uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&w.t), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return !w.fired;
}

// A queue from any thread to the loop thread, woken through uv_async_t.
template <class T>
class to_loop {
 public:
  template <class Fn>
  to_loop(uv_loop_t* loop, Fn&& on_items) : on_items_(std::forward<Fn>(on_items)) {
    uv_async_init(loop, &async_, [](uv_async_t* h) {
      auto* self = static_cast<to_loop*>(h->data);
      std::vector<T> items;
      {
        std::lock_guard lock(self->mu_);
        items.swap(self->items_);
      }
      self->on_items_(items);
    });
    async_.data = this;
  }
  void push(T item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
    }
    uv_async_send(&async_);
  }
  // The handle must be closed before this object goes away.
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr); }

 private:
  uv_async_t async_{};
  std::mutex mu_;
  std::vector<T> items_;
  std::function<void(std::vector<T>&)> on_items_;
};

struct registration {
  pid_t pid;
  std::uint32_t slot;
};

// The stream generator off the loop: creates the measured children one by one, never
// more than `concurrency` alive, and posts each (pid, slot) to the loop.
class generator {
 public:
  generator(const config& cfg, shared_area& area, uv_loop_t* loop,
            std::function<void(const registration&)> on_registered)
      : cfg_(cfg),
        area_(area),
        room_(static_cast<std::ptrdiff_t>(cfg.concurrency)),
        queue_(loop, [cb = std::move(on_registered)](std::vector<registration>& items) {
          for (const auto& r : items)
            cb(r);
        }) {}

  ~generator() { stop(); }

  // `make` creates child `slot` in place of the harness's own posix_spawn (a reaper's
  // spawn from this thread); its children register themselves, so they go at once.
  void start(bool release_itself, std::function<void()> on_created = {},
             std::function<pid_t(std::uint32_t)> make = {}) {
    thread_ = std::thread(
        [this, release_itself, on_created = std::move(on_created), make = std::move(make)] {
          try {
            for (std::uint32_t i = 0; i < cfg_.children; ++i) {
              room_.acquire();
              if (stopping_.load()) return;
              // A child the loop need not register (floor, spawn) is let go at once.
              if (release_itself) area_.slots()[i].go.store(1, std::memory_order_release);
              const pid_t pid = make ? make(i) : create_child(cfg_, area_, role::stream, i);
              if (on_created) on_created();
              queue_.push({pid, i});
            }
          } catch (const std::exception& e) {
            // The run then ends at its deadline with the rest counted as lost.
            std::fprintf(stderr, "uvreap-bench: generator: %s\n", e.what());
          }
        });
  }
  // One measured child is gone: room for the next.
  void exited() { room_.release(); }
  void stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true);
    room_.release(static_cast<std::ptrdiff_t>(cfg_.children) + 1);
    thread_.join();
  }
  void close() { queue_.close(); }

 private:
  const config& cfg_;
  shared_area& area_;
  std::counting_semaphore<> room_;
  to_loop<registration> queue_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

// ---------------------------------------------------------------------------------
// The strategies. Each: create() a child on the loop thread before measuring,
// start_stream(), background_left(), shutdown().

class reaper_strategy {
 public:
  reaper_strategy(const config& cfg, shared_area& area, tracker& t, uv_loop_t* loop,
                  uvreap::policy p)
      : cfg_(cfg), area_(area), t_(t) {
    uvreap::options o;
    o.reap_policy = p;
    o.start_threads = cfg.start_threads;
    o.on_orphan = [this](const exit_status&) { ++orphans_; };
    reaper_.emplace(loop, std::move(o));
  }

  std::string generator_name() const {
    if (cfg_.pat != pattern::stream) return "loop (before)";
    if (!loop_starts()) return "thread";
    return cfg_.start == start_mode::sync    ? "loop: spawn"
           : cfg_.start == start_mode::async ? "loop: async"
                                             : "loop: pool";
  }

  exit_callback callback(std::uint32_t slot) {
    return [this, slot](const exit_status& s) {
      const std::uint64_t now = now_ns();
      t_.exit_of(slot, s.exited(), s.code(), now);
      if (gen_ && slot < t_.measured_count) gen_->exited();
      if (streaming_ && slot < t_.measured_count) {
        --in_flight_;
        next();
      }
    };
  }

  // The loop thread's time in each start call of the stream (empty when a thread starts
  // them).
  std::vector<double> take_loop_spawn_us() { return std::move(loop_spawn_us_); }

  void create(role r, std::uint32_t slot) {
    if (cfg_.spawn == creation::fork) {
      reaper_->watch(create_child(cfg_, area_, r, slot), callback(slot));
    } else {
      reaper_->spawn(reaper_child(cfg_, area_, r, slot), callback(slot));
    }
  }

  void start_stream(uv_loop_t* loop) {
    if (loop_starts()) {
      // The loop thread starts them, as a server would: as many as the concurrency cap
      // allows, then one more after each exit.
      loop_ = loop;
      loop_spawn_us_.reserve(cfg_.children);
      streaming_ = true;
      while (next_ < cfg_.children && in_flight_ < cfg_.concurrency)
        next();
      return;
    }
    // Registration: the generator thread posts (pid, slot) through a mutex queue and
    // uv_async_send; the loop calls watch() and only then lets the child exit, so no
    // exit can precede its registration.
    if (cfg_.spawn == creation::exec) {
      // The engine under test creates the children: reaper::spawn from the generator
      // thread, which registers each child itself; nothing for the loop to do here.
      gen_ = std::make_unique<generator>(cfg_, area_, loop, [](const registration&) {});
      gen_->start(true, {}, [this](std::uint32_t slot) {
        const spawn_options o = reaper_child(cfg_, area_, role::stream, slot);
        std::error_code ec;
        const pid_t pid = reaper_->spawn(o, callback(slot), ec);
        if (ec) fail("reaper::spawn", ec.value());
        return pid;
      });
      return;
    }
    gen_ = std::make_unique<generator>(cfg_, area_, loop, [this](const registration& r) {
      std::error_code ec;
      reaper_->watch(r.pid, callback(r.slot), ec);
      if (ec) ++t_.wrong;
      futex_release(area_.slots()[r.slot].go);
      ++watches_;
    });
    gen_->start(false);
  }

  uvreap::stats stats() const { return reaper_->stats(); }
  std::uint64_t watches() const { return watches_; }
  std::uint64_t orphans() const { return orphans_; }

  void shutdown() {
    streaming_ = false;
    if (gen_) {
      gen_->stop();
      gen_->close();
    }
    reaper_->close();
  }

 private:
  bool loop_starts() const {
    return cfg_.pat == pattern::stream && cfg_.spawn == creation::exec &&
           cfg_.start != start_mode::thread;
  }

  // --start pool: reaper::spawn on one of libuv's threadpool threads.
  struct pool_work {
    uv_work_t req{};
    reaper_strategy* self;
    std::uint32_t slot;
    spawn_options opts;
    std::error_code ec;
  };

  void next() noexcept {
    if (!streaming_ || next_ >= cfg_.children) return;
    const std::uint32_t slot = next_++;
    ++in_flight_;
    area_.slots()[slot].go.store(1, std::memory_order_release);
    try {
      spawn_options o = reaper_child(cfg_, area_, role::stream, slot);
      std::error_code ec;
      const std::uint64_t t0 = now_ns();
      if (cfg_.start == start_mode::sync) {
        reaper_->spawn(o, callback(slot), ec);
      } else if (cfg_.start == start_mode::async) {
        reaper_->spawn_async(
            o,
            [](pid_t, std::error_code e) {
              if (e) std::fprintf(stderr, "uvreap-bench: spawn_async: %s\n", e.message().c_str());
            },
            callback(slot), ec);
      } else {
        auto* w = new pool_work{{}, this, slot, std::move(o), {}};
        w->req.data = w;
        const int r = uv_queue_work(
            loop_, &w->req,
            [](uv_work_t* req) {
              auto* pw = static_cast<pool_work*>(req->data);
              pw->self->reaper_->spawn(pw->opts, pw->self->callback(pw->slot), pw->ec);
            },
            [](uv_work_t* req, int) {
              auto* pw = static_cast<pool_work*>(req->data);
              if (pw->ec) {
                std::fprintf(stderr, "uvreap-bench: spawn: %s\n", pw->ec.message().c_str());
              }
              delete pw;
            });
        if (r != 0) {
          delete w;
          ec = std::error_code(-r, std::generic_category());
        }
      }
      loop_spawn_us_.push_back(static_cast<double>(now_ns() - t0) / 1e3);
      if (ec) fail("start", ec.value());
    } catch (const std::exception& e) {  // never through libuv's frames
      std::fprintf(stderr, "uvreap-bench: %s\n", e.what());
    }
  }

  const config& cfg_;
  shared_area& area_;
  tracker& t_;
  std::optional<uvreap::reaper> reaper_;
  std::unique_ptr<generator> gen_;
  std::uint64_t watches_ = 0;
  std::uint64_t orphans_ = 0;
  uv_loop_t* loop_ = nullptr;
  bool streaming_ = false;
  std::uint32_t next_ = 0;
  std::uint32_t in_flight_ = 0;
  std::vector<double> loop_spawn_us_;
};

class uv_spawn_strategy {
 public:
  uv_spawn_strategy(const config& cfg, shared_area& area, tracker& t, uv_loop_t* loop)
      : cfg_(cfg), area_(area), t_(t), loop_(loop) {}

  std::string generator_name() const {
    return cfg_.pat == pattern::stream ? "loop" : "loop (before)";
  }

  void create(role r, std::uint32_t slot) {
    struct child {
      uv_process_t h{};
      uv_spawn_strategy* self;
      std::uint32_t slot;
    };
    auto* c = new child{{}, this, slot};
    c->h.data = c;
    auto args = child_argv(cfg_, area_, r, slot);
    std::vector<char*> argv;
    for (auto& s : args)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    uv_process_options_t o{};
    o.file = argv[0];
    o.args = argv.data();
    o.exit_cb = [](uv_process_t* h, int64_t status, int term_signal) {
      const std::uint64_t now = now_ns();
      auto* ch = static_cast<child*>(h->data);
      ch->self->t_.exit_of(ch->slot, term_signal == 0, static_cast<int>(status), now);
      uv_close(reinterpret_cast<uv_handle_t*>(h),
               [](uv_handle_t* hh) { delete static_cast<child*>(hh->data); });
      if (ch->slot < ch->self->t_.measured_count) ch->self->next();
    };
    const std::uint64_t t0 = now_ns();
    const int e = uv_spawn(loop_, &c->h, &o);
    if (streaming_) loop_spawn_us_.push_back(static_cast<double>(now_ns() - t0) / 1e3);
    if (e != 0) {
      // libuv wants the handle closed even when spawn failed.
      uv_close(reinterpret_cast<uv_handle_t*>(&c->h),
               [](uv_handle_t* hh) { delete static_cast<child*>(hh->data); });
      fail("uv_spawn", -e);
    }
  }

  // libuv offers no way to hand it children made elsewhere: the loop thread spawns, as
  // many as the concurrency cap allows, and one more after each exit.
  std::vector<double> take_loop_spawn_us() { return std::move(loop_spawn_us_); }

  void start_stream(uv_loop_t*) {
    loop_spawn_us_.reserve(cfg_.children);
    streaming_ = true;
    while (next_ < cfg_.children && next_ < cfg_.concurrency)
      next();
  }

  void shutdown() {}

 private:
  void next() noexcept {
    if (!streaming_ || next_ >= cfg_.children) return;
    const std::uint32_t slot = next_++;
    area_.slots()[slot].go.store(1, std::memory_order_release);
    try {
      create(role::stream, slot);
    } catch (const std::exception& e) {  // never through libuv's frames
      std::fprintf(stderr, "uvreap-bench: %s\n", e.what());
    }
  }

  const config& cfg_;
  shared_area& area_;
  tracker& t_;
  uv_loop_t* loop_;
  bool streaming_ = false;
  std::uint32_t next_ = 0;
  std::vector<double> loop_spawn_us_;
};

class floor_strategy {
 public:
  floor_strategy(const config& cfg, shared_area& area, tracker& t, uv_loop_t* loop)
      : cfg_(cfg),
        area_(area),
        t_(t),
        exits_(loop, [this](std::vector<reaped>& items) { on_exits(items); }) {}

  ~floor_strategy() {
    if (!thread_.joinable()) return;
    // Torn down early (a spawn failed, EAGAIN under RLIMIT_NPROC): the thread may block in
    // waitid on children held at a barrier, or wait for creations that will never come.
    // Let every child go and tell the thread to stop once none is left.
    stop_.store(true);
    futex_release(area_.head()->burst_release);
    futex_release(area_.head()->background_release);
    created_.fetch_add(1);
    created_.notify_all();
    thread_.join();
  }

  std::string generator_name() const {
    return cfg_.pat == pattern::stream ? "thread" : "loop (before)";
  }

  void create(role r, std::uint32_t slot) {
    const pid_t pid = create_child(cfg_, area_, r, slot);
    slot_of_[pid] = slot;
    count_creation();
    ensure_thread();
  }

  void start_stream(uv_loop_t* loop) {
    gen_ = std::make_unique<generator>(cfg_, area_, loop, [this](const registration& r) {
      slot_of_[r.pid] = r.slot;
      if (auto it = early_.find(r.pid); it != early_.end()) {
        deliver(r.slot, it->second, now_ns());
        early_.erase(it);
      }
    });
    ensure_thread();
    gen_->start(true, [this] { count_creation(); });
  }

  std::uint64_t waitid_calls() const { return waitid_calls_.load(); }

  void shutdown() {
    if (gen_) {
      gen_->stop();
      gen_->close();
    }
    if (thread_.joinable()) thread_.join();
    exits_.close();
  }

 private:
  struct reaped {
    pid_t pid;
    bool exited;
    int code;
    std::uint64_t wake_ns;
  };

  void ensure_thread() {
    if (thread_.joinable()) return;
    const std::uint32_t total = cfg_.children + cfg_.background;
    thread_ = std::thread([this, total] {
      std::uint32_t n = 0;
      while (n < total) {
        siginfo_t si{};
        const int r = ::waitid(P_ALL, 0, &si, WEXITED);
        waitid_calls_.fetch_add(1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == ECHILD) {
          // Everything created so far is reaped: sleep until the next creation. A
          // creation between the waitid and this load shows up as c > n.
          // The count may also trail n: a child can be reaped here before its creator
          // has counted it.
          if (stop_.load()) return;
          const std::uint32_t c = created_.load();
          if (c <= n) created_.wait(c);
          continue;
        }
        if (r < 0) return;
        const std::uint64_t wake = now_ns();
        exits_.push({si.si_pid, si.si_code == CLD_EXITED, si.si_status, wake});
        ++n;
      }
    });
  }

  void count_creation() {
    created_.fetch_add(1);
    created_.notify_all();
  }

  void on_exits(std::vector<reaped>& items) {
    const std::uint64_t now = now_ns();
    for (const auto& e : items) {
      const auto it = slot_of_.find(e.pid);
      if (it == slot_of_.end()) {
        early_.emplace(e.pid, e);  // its registration is still on the way
        continue;
      }
      deliver(it->second, e, now);
    }
  }

  void deliver(std::uint32_t slot, const reaped& e, std::uint64_t now) {
    t_.exit_of(slot, e.exited, e.code, now, e.wake_ns);
    if (gen_ && slot < t_.measured_count) gen_->exited();
  }

  const config& cfg_;
  shared_area& area_;
  tracker& t_;
  to_loop<reaped> exits_;
  std::unique_ptr<generator> gen_;
  std::thread thread_;
  std::atomic<std::uint32_t> created_{0};
  std::atomic<bool> stop_{false};  // the destructor tears the run down early
  std::atomic<std::uint64_t> waitid_calls_{0};
  std::unordered_map<pid_t, std::uint32_t> slot_of_;
  std::unordered_map<pid_t, reaped> early_;
};

// Reaps whatever a failed run left behind, so the next run starts with no children.
void reap_leftovers() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

template <class Strategy>
run_result measure(const config& cfg, Strategy& s, tracker& t, uv_loop_t* loop, shared_area& area,
                   const std::function<std::optional<uvreap::stats>()>& st) {
  run_result res;
  res.generator = s.generator_name();
  for (std::uint32_t k = 0; k < cfg.background; ++k)
    s.create(role::background, cfg.children + k);
  std::optional<uvreap::stats> before;
  double cpu0 = 0;
  std::uint64_t t0 = 0;
  if (cfg.pat == pattern::burst) {
    for (std::uint32_t i = 0; i < cfg.children; ++i)
      s.create(role::burst, i);
    before = st();
    cpu0 = cpu_us();
    t0 = now_ns();
    futex_release(area.head()->burst_release);
  } else {
    before = st();
    cpu0 = cpu_us();
    t0 = now_ns();
    s.start_stream(loop);
  }
  const double children0 = cpu_us(RUSAGE_CHILDREN);  // only reaped children count
  const bool in_time = run_until(loop, cfg.deadline_s, [&] { return t.delivered >= cfg.children; });
  const double cpu1 = cpu_us();
  const double children1 = cpu_us(RUSAGE_CHILDREN);
  const std::optional<uvreap::stats> after = st();

  const double n = std::max<double>(1, t.delivered);
  const double span_s = static_cast<double>(std::max(t.last_ns, t0 + 1) - t0) / 1e9;
  res.children_per_s = t.delivered / span_s;
  res.cpu_us_per_child = (cpu1 - cpu0) / n;
  res.children_cpu_us_per_child = (children1 - children0) / n;
  if (cfg.pat == pattern::stream && res.cpu_us_per_child + res.children_cpu_us_per_child > 0) {
    // What this machine could sustain if it did nothing but this: every core busy with
    // the parent's and the children's CPU per child.
    const double cores = std::max(1u, std::thread::hardware_concurrency());
    res.ceiling_per_s = cores * 1e6 / (res.cpu_us_per_child + res.children_cpu_us_per_child);
  }
  if (before && after) {
    res.sweeps_per_exit = static_cast<double>(after->sweeps - before->sweeps) / n;
    // Reaping syscalls: the waits, and for pidfd the epoll calls and closing the pidfd.
    res.syscalls_per_exit = static_cast<double>((after->syscalls.wait4 - before->syscalls.wait4) +
                                                (after->syscalls.waitid - before->syscalls.waitid) +
                                                (after->syscalls.epoll - before->syscalls.epoll) +
                                                (after->syscalls.close - before->syscalls.close)) /
                            n;
  }
  res.lost = cfg.children - t.delivered;
  if (!in_time) res.note = "deadline passed";

  // Let the background go and wait for the strategy to reap it, then close everything.
  futex_release(area.head()->background_release);
  if (!in_time) futex_release(area.head()->burst_release);
  run_until(loop, cfg.deadline_s, [&] { return t.background_done >= cfg.background; });
  return res;
}

}  // namespace

run_result run_once(const config& cfg, const std::string& strategy, int repeat, shared_area& area) {
  area.reset();
  uv_loop_t loop;
  if (int e = uv_loop_init(&loop); e != 0) fail("uv_loop_init", -e);
  tracker t(area, cfg.children);
  run_result res;
  // shutdown() starts closing the handles a strategy owns (its reaper, the generator's
  // and the floor's uv_async_t); the loop must finish those closes while the strategy
  // is still alive, or libuv would touch freed memory.
  const auto finish = [&loop](auto& strategy) {
    strategy.shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
  };

  try {
    if (strategy == "own" || strategy == "all" || strategy == "pidfd") {
      const auto pol = strategy == "own"   ? uvreap::policy::own
                       : strategy == "all" ? uvreap::policy::all
                                           : uvreap::policy::pidfd;
      reaper_strategy s(cfg, area, t, &loop, pol);
      res = measure(cfg, s, t, &loop, area, [&] { return std::optional(s.stats()); });
      res.loop_spawn_us = s.take_loop_spawn_us();
      if (res.syscalls_per_exit && cfg.pat == pattern::stream) {
        // watch() costs one waitid per child (and, for pidfd, one epoll_ctl): that is
        // registration, not reaping.
        const double per_watch = pol == uvreap::policy::pidfd ? 2 : 1;
        *res.syscalls_per_exit -=
            per_watch * static_cast<double>(s.watches()) / std::max(1u, t.delivered);
      }
      t.wrong += s.orphans();
      finish(s);
    } else if (strategy == "uv_spawn") {
      if (cfg.spawn != creation::exec) {
        res.note = "skipped: uv_spawn can only exec (use --spawn exec)";
        res.strategy = strategy;
        res.repeat = repeat;
        uv_loop_close(&loop);
        return res;
      }
      uv_spawn_strategy s(cfg, area, t, &loop);
      // libuv's reaping syscalls are its waitpid calls (one per live handle per SIGCHLD),
      // counted as uvreap's wait4 calls are; it has no figure for sweeps.
      res = measure(cfg, s, t, &loop, area, [] {
        uvreap::stats st{};
        st.syscalls.wait4 = waitpid_calls();
        return std::optional(st);
      });
      res.sweeps_per_exit.reset();
      if (res.syscalls_per_exit && *res.syscalls_per_exit == 0) res.syscalls_per_exit.reset();
      res.loop_spawn_us = s.take_loop_spawn_us();
      finish(s);
    } else if (strategy == "floor") {
      floor_strategy s(cfg, area, t, &loop);
      res = measure(cfg, s, t, &loop, area, [] { return std::optional<uvreap::stats>(); });
      finish(s);
      res.syscalls_per_exit =
          static_cast<double>(s.waitid_calls()) / (cfg.children + cfg.background);
      res.wake = summarize(t.wake_us);
      res.wake_us = std::move(t.wake_us);
    } else {
      throw std::runtime_error("unknown strategy " + strategy);
    }
  } catch (const std::exception& e) {
    // A run that fails half-way (a spawn refused with EAGAIN, say) cannot be wound down:
    // its reaper still has handles on this loop, closing while children die, and libuv's
    // signal handler would write into the pipe of a loop that no longer exists. Let every
    // child go from its barrier (they exit, and init reaps them) and end here.
    futex_release(area.head()->burst_release);
    futex_release(area.head()->background_release);
    std::fprintf(stderr, "uvreap-bench: %s: %s\n", strategy.c_str(), e.what());
    std::fflush(stderr);
    std::_Exit(1);
  }
  if (uv_loop_close(&loop) != 0)
    res.note += (res.note.empty() ? "" : "; ") + std::string("loop busy at close");
  reap_leftovers();

  res.strategy = strategy;
  res.repeat = repeat;
  res.duplicated = t.duplicated;
  res.wrong = t.wrong;
  res.latency = summarize(t.latency_us);
  res.latency_us = std::move(t.latency_us);
  if (!res.loop_spawn_us.empty()) res.loop_spawn = summarize(res.loop_spawn_us);
  return res;
}

std::optional<uvreap::sandbox_options> bench_sandbox(const std::string& name, const config& cfg) {
  if (name == "none") return std::nullopt;
  uvreap::sandbox_options s;
  for (const char* d : {"/usr", "/lib", "/lib64", "/etc"}) {
    if (::access(d, F_OK) == 0) s.read.emplace_back(d);
  }
  const auto slash = cfg.child_exe.rfind('/');
  s.read.push_back(slash == std::string::npos ? std::string(".") : cfg.child_exe.substr(0, slash));
  if (name == "full") {
    s.network = false;
    s.scope_abstract_unix = true;
    s.scope_signals = true;
    s.seccomp = true;
  }
  return s;
}

}  // namespace uvreap::bench
