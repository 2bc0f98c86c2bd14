// SPDX-License-Identifier: MIT
// uvreap-bench: how many waitpid() calls libuv has made in this process.
#pragma once

#include <cstdint>

namespace uvreap::bench {

/// Calls to waitpid() made in this process so far (libuv's uv_spawn reaping goes through
/// it). 0 when the counting definition did not take the place of libc's (then the figure
/// is unknown, not zero).
std::uint64_t waitpid_calls() noexcept;

}  // namespace uvreap::bench
