// SPDX-License-Identifier: MIT
// uvreap (private): spawn_async — starts made off the loop thread, on a thread of the
// reaper's own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "os_calls.hpp"
#include "spawn_plan.hpp"
#include "tree.hpp"
#include "uvreap/reaper_options.hpp"
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"

namespace uvreap::detail {

/// One `spawn_async` on its way: a copy of the options (the plan borrows its strings),
/// the plan prepared on the calling thread (its pipes made), both callbacks, and the
/// syscalls counted for it, with the seam they go through. It moves from the calling
/// thread to the starter's thread (which makes the child) to the loop thread (which opens
/// the pipes, registers the child and calls `on_started`), one thread at a time; the
/// handovers are under a mutex (the starter's, then the inbox's).
struct start_job {
  start_job(sys::interface& seam, spawn_options o, started_callback started, exit_callback exited)
      : opts(std::move(o)),
        on_started(std::move(started)),
        on_exit(std::move(exited)),
        os(seam, calls) {}
  start_job(const start_job&) = delete;
  start_job& operator=(const start_job&) = delete;

  spawn_options opts;
  started_callback on_started;
  exit_callback on_exit;
  /// When `spawn_async` was called: a time limit counts from here.
  std::chrono::steady_clock::time_point called = std::chrono::steady_clock::now();
  stats::syscall_counts calls{};
  os_calls os;
  spawn_plan plan;  // declared after opts and os: destroyed (its fds closed) before them
  std::unique_ptr<tree_birth> tree;  // made on the calling thread (null: tree::none)
};

/// The reaper's starters: up to `max_threads` threads, each started when a job arrives
/// and no starter is idle, that take jobs in order and run `run` on each. A start holds
/// its thread until the child has exec'd (CLONE_VFORK), so one thread would cap the rate
/// at one start per exec time; with one per core the execs of several children overlap.
/// `shut_and_join` stops them: the jobs being run finish, queued ones are dropped
/// (destroyed on the caller's thread, which closes their fds; no callback runs), and
/// later submissions fail with ESTALE.
class async_starter {
 public:
  using run_fn = std::function<void(std::unique_ptr<start_job>)>;
  async_starter(run_fn run, std::size_t max_threads) noexcept
      : run_(std::move(run)), max_threads_(max_threads == 0 ? 1 : max_threads) {}
  async_starter(const async_starter&) = delete;
  async_starter& operator=(const async_starter&) = delete;
  ~async_starter() { shut_and_join(); }

  /// Queues `job` (left untouched on failure): ESTALE after shut, EAGAIN when the thread
  /// cannot be started, ENOMEM.
  std::error_code submit(std::unique_ptr<start_job>& job) noexcept;

  /// Any thread but the starter's. Idempotent.
  void shut_and_join() noexcept;

 private:
  void work() noexcept;

  run_fn run_;
  const std::size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<start_job>> jobs_;  // guarded by mu_
  bool open_ = true;                             // guarded by mu_
  std::size_t idle_ = 0;                         // guarded by mu_: starters waiting for a job
  std::vector<std::thread> threads_;             // grown under mu_, joined after shut
};

}  // namespace uvreap::detail
