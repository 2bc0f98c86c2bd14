// SPDX-License-Identifier: MIT
// uvreap: run a command and collect it — its input from a buffer, its output kept up to a
// limit, its whole tree contained and waited for (reaper::run).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <system_error>

#include "uvreap/exit_status.hpp"

#pragma GCC visibility push(default)  // the public API; the rest of the library is hidden
namespace uvreap {

/// How `reaper::run` feeds and collects a child.
struct run_options {
  /// Written to the child's stdin, which is then closed (the child reads EOF). The
  /// child's stdin is a socket pair, as libuv's uv_spawn makes them, written with
  /// MSG_NOSIGNAL: a child that exits without reading it all never raises SIGPIPE in this
  /// process (`run_result::input_error` is then EPIPE).
  std::string input;
  /// Bytes of stdout, and of stderr, kept. What comes after is still read (a child never
  /// blocks on a full pipe) and dropped; `run_result::out_truncated` / `err_truncated`
  /// say so.
  std::size_t max_output = std::size_t{1} << 20;
  /// Once the child and its tree are gone, how long the output pipes may stay open — held
  /// by a process that left the tree, which only a process group allows (a setsid'd
  /// daemon) — before they are closed and `run_result::output_cut` set. A cgroup tree
  /// cannot leave anything behind: its pipes close with it.
  std::chrono::milliseconds drain_after_exit{500};
  /// `spawn_options::tree` none is taken as `automatic`: the run's tree is contained
  /// unless this is false (then none means none, and whatever the child starts may hold
  /// its output open until `drain_after_exit` cuts it).
  bool contain_tree = true;
};

/// What `reaper::run` hands its callback.
struct run_result {
  /// The child's exit, with its tree's (see `exit_status::tree_info`).
  exit_status status;
  /// The first `run_options::max_output` bytes of stdout.
  std::string out;
  /// The first `run_options::max_output` bytes of stderr.
  std::string err;
  bool out_truncated = false;  ///< stdout had more than `max_output` bytes
  bool err_truncated = false;  ///< stderr had more than `max_output` bytes
  /// The output pipes were still open `drain_after_exit` after the tree was gone, and
  /// were closed: what was written after that is lost.
  bool output_cut = false;
  /// Writing stdin failed: EPIPE when the child closed it before reading all of
  /// `run_options::input`, or what the write reported.
  std::error_code input_error;
};

/// Called once per `reaper::run`, on the loop thread, when the child's tree is gone and
/// its output collected. The result may be moved from.
using run_callback = std::function<void(run_result& result)>;

}  // namespace uvreap
#pragma GCC visibility pop
