// SPDX-License-Identifier: MIT
// uvreap (private): which fork() of the process we are in.
#pragma once

#include <pthread.h>

#include <atomic>

namespace uvreap::detail {

/// Bumped in the child of every fork() (not of posix_spawn, whose children exec). A
/// reaper created before a fork sees a different value in the forked child, where none
/// of its children are children of the process any more.
inline unsigned fork_generation() noexcept {
  static std::atomic<unsigned> generation{0};
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  return generation.load();
}

}  // namespace uvreap::detail
