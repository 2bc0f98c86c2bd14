// SPDX-License-Identifier: MIT
// uvreap-bench: counts libuv's waitpid() calls.
//
// libuv reaps uv_spawn's children with waitpid(pid, WNOHANG), once per process handle
// each time SIGCHLD arrives, and keeps no count of it. A waitpid defined in the program is
// found before libc's when libuv's call is bound (the executable comes first in symbol
// lookup), so every such call passes through here. The call itself is the same wait4
// system call glibc makes.
#include "waitpid_count.hpp"

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

namespace {
std::atomic<std::uint64_t> calls{0};
}  // namespace

extern "C" __attribute__((visibility("default"))) pid_t waitpid(pid_t pid, int* status,
                                                                int options) {
  calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<pid_t>(::syscall(SYS_wait4, pid, status, options, nullptr));
}

namespace uvreap::bench {

std::uint64_t waitpid_calls() noexcept {
  return calls.load(std::memory_order_relaxed);
}

}  // namespace uvreap::bench
