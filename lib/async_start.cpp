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
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      threads_.reserve(threads_.size() + 1);
      // A starter blocks every signal, so that none meant for the process (SIGCHLD among
      // them) is delivered on a thread that runs no handler of the application's.
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, &old);
      try {
        threads_.emplace_back([this] { work(); });
      } catch (const std::system_error& e) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (threads_.empty()) {  // no starter at all: refuse; otherwise the others take it
          jobs_.pop_back();
          return errno_code(e.code().value() == 0 ? EAGAIN : e.code().value());
        }
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
    open_ = false;  // a mutex that cannot lock: the threads cannot take jobs either
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (!t.joinable() || t.get_id() == std::this_thread::get_id()) continue;
    try {
      t.join();
    } catch (const std::system_error&) {
      t.detach();
    }
  }
  // `dropped` is destroyed here: the plans close their fds; no callback runs.
}

void async_starter::work() noexcept {
  for (;;) {
    std::unique_ptr<start_job> job;
    try {
      std::unique_lock lock(mu_);
      ++idle_;
      cv_.wait(lock, [this] { return !open_ || !jobs_.empty(); });
      --idle_;
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
