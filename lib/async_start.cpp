// SPDX-License-Identifier: MIT
// uvreap (private): the starter thread behind spawn_async.
#include "async_start.hpp"

#include <pthread.h>
#include <signal.h>

#include "errno_code.hpp"

namespace uvreap::detail {

std::error_code async_starter::submit(std::unique_ptr<start_job>& job) noexcept {
  try {
    std::lock_guard lock(mu_);
    if (!open_) return errno_code(ESTALE);
    jobs_.push_back(nullptr);  // room first: the move below cannot fail
    if (!thread_.joinable()) {
      // The starter blocks every signal, so that none meant for the process (SIGCHLD
      // among them) is delivered on a thread that runs no handler of the application's.
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, &old);
      try {
        thread_ = std::thread([this] { work(); });
      } catch (const std::system_error& e) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        jobs_.pop_back();
        return errno_code(e.code().value() == 0 ? EAGAIN : e.code().value());
      }
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    jobs_.back() = std::move(job);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  } catch (const std::system_error& e) {
    return e.code();
  }
  cv_.notify_one();
  return {};
}

void async_starter::shut_and_join() noexcept {
  std::deque<std::unique_ptr<start_job>> dropped;
  try {
    std::lock_guard lock(mu_);
    open_ = false;
    dropped.swap(jobs_);
  } catch (const std::system_error&) {
    open_ = false;  // a mutex that cannot lock: the thread cannot take jobs either
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    try {
      thread_.join();
    } catch (const std::system_error&) {
      thread_.detach();
    }
  }
  // `dropped` is destroyed here: the plans close their fds; no callback runs.
}

std::size_t async_starter::queued() noexcept {
  try {
    std::lock_guard lock(mu_);
    return jobs_.size();
  } catch (const std::system_error&) {
    return 0;
  }
}

void async_starter::work() noexcept {
  for (;;) {
    std::unique_ptr<start_job> job;
    try {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !open_ || !jobs_.empty(); });
      if (!open_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    } catch (const std::system_error&) {
      return;  // a mutex that cannot lock: submissions fail the same way
    }
    run_(std::move(job));
  }
}

}  // namespace uvreap::detail
