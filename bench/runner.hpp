// SPDX-License-Identifier: MIT
// uvreap-bench: one storm run of one strategy, and what it measured.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared_area.hpp"
#include "uvreap/exit_status.hpp"
#include "uvreap/spawn_options.hpp"

namespace uvreap::bench {

enum class pattern { burst, stream };
enum class creation { fork, exec };
/// Who starts the stream's children for own/all/pidfd (with --spawn exec): the loop thread
/// with reaper::spawn (sync) or reaper::spawn_async (async); the loop thread handing
/// reaper::spawn to libuv's threadpool (pool); or a generator thread calling
/// reaper::spawn (thread).
enum class start_mode { sync, async, pool, thread };

struct config {
  pattern pat = pattern::burst;
  std::uint32_t children = 2000;
  std::uint32_t background = 0;
  std::uint32_t concurrency = 64;
  start_mode start = start_mode::sync;
  std::vector<start_mode> start_list{start_mode::sync};  // --start a,b: each in turn
  std::size_t start_threads = 0;  // --start-threads: options::start_threads (0: the default)
  std::vector<std::string> strategies{"own", "all", "pidfd", "uv_spawn", "floor"};
  int repeat = 3;
  creation spawn = creation::exec;
  std::string json_path;
  std::string plot_path;
  std::string child_exe;  // uvreap-bench-child, for --spawn exec
  double deadline_s = 120;
  bool kernel_costs = false;   // --kernel-costs: measure each reaping step alone instead
  std::uint32_t open_fds = 0;  // --open-fds: extra fds the parent holds during every run
  // Lists given to --background / --open-fds: each value is a run of its own, interleaved
  // with the rest; `background` / `open_fds` above hold the one in effect.
  std::vector<std::uint32_t> background_list{0};
  std::vector<std::uint32_t> open_fds_list{0};
  // --tree: what holds each child the reaper spawns (--spawn exec, own/all/pidfd); a list
  // runs each in turn, interleaved, rows named tree=..
  uvreap::tree tree = uvreap::tree::none;
  std::vector<uvreap::tree> tree_list{uvreap::tree::none};
  std::uint32_t kill_tree = 0;  // --kill-tree N: time kill_tree on N-process trees instead
  // --sandbox: none, landlock (files: the system directories and the child's own), or
  // full (landlock, no network, both scopes, the seccomp filter); a list runs each,
  // interleaved, rows named sandbox=..
  std::string sandbox = "none";
  std::vector<std::string> sandbox_list{"none"};
  std::optional<uvreap::sandbox_options> sandbox_opts;  // what `sandbox` makes
  // The helpers map the shared area from an inherited fd 3 instead of its /proc path
  // (with --sandbox, for every row of it: a sandboxed child cannot open the path).
  bool area_as_fd = false;
};

/// The sandbox --sandbox names, for the children of `cfg` (nullopt for none).
std::optional<uvreap::sandbox_options> bench_sandbox(const std::string& name, const config& cfg);

/// The order statistics the table and the JSON report.
struct percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
percentiles summarize(std::vector<double> samples);

struct run_result {
  std::string strategy;  // with " K=.." / " fds=.." when a list of them was given
  int repeat = 0;
  std::uint32_t background = 0;
  std::uint32_t open_fds = 0;
  std::string generator;           // who created the measured children
  std::vector<double> latency_us;  // exit stamp -> first thing in the callback
  std::vector<double> wake_us;     // floor only: exit stamp -> waitid returned
  percentiles latency{};
  std::optional<percentiles> wake;  // floor only
  double children_per_s = 0;
  double cpu_us_per_child = 0;
  double children_cpu_us_per_child = 0;     // the reaped children's own CPU (RUSAGE_CHILDREN)
  std::vector<double> loop_spawn_us;        // stream: the loop thread's time in each start call
  std::optional<percentiles> loop_spawn;    // ... its percentiles, when the loop started them
  std::optional<double> ceiling_per_s;      // stream: cores / (parent + children CPU per child)
  std::optional<double> syscalls_per_exit;  // reaping syscalls, where known
  std::optional<double> sweeps_per_exit;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t wrong = 0;  // delivered with a status the child did not exit with
  std::string note;         // set when the strategy could not run (then nothing else is)
};

/// Runs `strategy` once on a fresh loop. Throws std::runtime_error on set-up failure.
run_result run_once(const config& cfg, const std::string& strategy, int repeat, shared_area& area);

/// True when `name` is a strategy this harness knows.
bool known_strategy(const std::string& name);

}  // namespace uvreap::bench
