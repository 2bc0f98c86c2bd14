// SPDX-License-Identifier: MIT
// uvreap-idle-cost: what the safety sweep (options::safety_sweep) costs a loop with
// nothing to do. N children that sleep, one reaper, the loop idle for a window; prints
// the wake-ups (sweeps), the syscalls they made and the loop thread's CPU in it.
//
//   uvreap-idle-cost CHILDREN WINDOW_S SAFETY_MS [own|all]
#include <sys/resource.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "../examples/common/flags.hpp"
#include "uvreap/uvreap.hpp"

namespace {

double thread_cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 0, window = 0, safety = 0;
  std::string why;
  if (argc < 4 || !uvreap::examples::parse_uint("CHILDREN", argv[1], 0, 100'000, n, why) ||
      !uvreap::examples::parse_uint("WINDOW_S", argv[2], 1, 3600, window, why) ||
      !uvreap::examples::parse_uint("SAFETY_MS", argv[3], 0, 3'600'000, safety, why) ||
      (argc > 4 && std::strcmp(argv[4], "own") != 0 && std::strcmp(argv[4], "all") != 0)) {
    std::fprintf(stderr, "usage: uvreap-idle-cost CHILDREN WINDOW_S SAFETY_MS [own|all]\n%s\n",
                 why.c_str());
    return 2;
  }
  uv_loop_t* loop = uv_default_loop();
  uvreap::options o;
  o.safety_sweep = std::chrono::milliseconds{safety};
  o.reap_policy =
      argc > 4 && std::strcmp(argv[4], "all") == 0 ? uvreap::policy::all : uvreap::policy::own;
  std::error_code ec;
  auto r = uvreap::reaper::create(loop, o, ec);
  if (!r) {
    std::fprintf(stderr, "uvreap-idle-cost: %s\n", ec.message().c_str());
    return 1;
  }
  uvreap::spawn_options s;
  s.argv = {"/bin/sleep", "3600"};
  for (std::uint64_t i = 0; i < n; ++i) {
    if (r->spawn(
            s, [](const uvreap::exit_status&) {}, ec) < 0) {
      std::fprintf(stderr, "uvreap-idle-cost: spawn: %s\n", ec.message().c_str());
      return 1;
    }
  }
  uv_run(loop, UV_RUN_NOWAIT);  // the start-up sweep, outside the window
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(
      &t, [](uv_timer_t* h) { uv_stop(h->loop); }, window * 1000, 0);
  const uvreap::stats s0 = r->stats();
  const double c0 = thread_cpu_ms();
  uv_run(loop, UV_RUN_DEFAULT);
  const double c1 = thread_cpu_ms();
  const uvreap::stats s1 = r->stats();
  std::printf(
      "children %llu, window %llu s, safety_sweep %llu ms: %llu sweeps, %llu syscalls, "
      "loop thread CPU %.2f ms\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(window),
      static_cast<unsigned long long>(safety),
      static_cast<unsigned long long>(s1.sweeps - s0.sweeps),
      static_cast<unsigned long long>(s1.syscalls.total() - s0.syscalls.total()), c1 - c0);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  r->close(uvreap::close_options::kill_children(std::chrono::milliseconds{0}));
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
