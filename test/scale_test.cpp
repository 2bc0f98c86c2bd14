// SPDX-License-Identifier: MIT
// uvreap tests: complexity proven by counters, not clocks — syscalls per exit stay
// constant as the number of live children grows — and sweeps that leave the loop free.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace scale {

constexpr std::uint64_t kExits = 500;

// Reaping syscalls of a stats delta: everything but the registration of children.
std::uint64_t reap_syscalls(const stats& a, const stats& b) {
  return (b.syscalls.wait4 - a.syscalls.wait4) + (b.syscalls.waitid - a.syscalls.waitid) +
         (b.syscalls.epoll - a.syscalls.epoll) + (b.syscalls.close - a.syscalls.close);
}

struct measured {
  std::uint64_t syscalls;
  std::uint64_t sweeps;
  std::uint64_t fallback_scans;
};

// `background` are alive; a reaper of `pol` adopts them, then kExits more children exit
// at once. Returns the reaping syscalls and sweeps those exits cost.
measured exits_with_background(loop_fixture& f, policy pol, const std::vector<pid_t>& background) {
  options o;
  o.reap_policy = pol;
  reaper r{&f.loop, o};
  for (pid_t p : background)
    r.watch(p, [](const exit_status&) {});
  gate g;
  std::uint64_t delivered = 0;
  std::vector<pid_t> pids;
  for (std::uint64_t i = 0; i < kExits; ++i) {
    pids.push_back(fork_gated(g, 0));
    r.watch(pids.back(), [&](const exit_status& s) { delivered += s.exited() ? 1 : 0; });
  }
  uv_run(&f.loop, UV_RUN_NOWAIT);
  const stats before = r.stats();
  g.open();
  f.run_until([&] { return delivered == kExits; });
  const stats after = r.stats();
  BOOST_TEST(after.lost == 0u);
  // Registration (watch) costs are outside the window; so is the background.
  r.close(close_options::leave_running());
  f.run_to_completion();
  const std::uint64_t sweeps = after.sweeps - before.sweeps;
  // Each watch() of a registered child costs one waitid; none happen in the window.
  const std::uint64_t syscalls = reap_syscalls(before, after);
  // The registration epoll_ctl calls of pidfd happen before `before`, so they are out.
  return {syscalls, sweeps, after.fallback_scans - before.fallback_scans};
}

}  // namespace scale

BOOST_FIXTURE_TEST_SUITE(scale_suite, loop_fixture)

BOOST_AUTO_TEST_CASE(syscalls_per_exit_do_not_grow_with_live_children) {
  using scale::kExits;
  std::vector<pid_t> background;
  gate bg;
  for (std::size_t k : {0u, 1000u, 10000u}) {
    while (background.size() < k)
      background.push_back(spawn_gated(bg, 0));
    for (policy pol : {policy::own, policy::all, policy::pidfd}) {
      BOOST_TEST_CONTEXT("K=" << k << " policy " << pol) {
        const auto m = scale::exits_with_background(*this, pol, background);
        BOOST_TEST_MESSAGE("K=" << k << " " << pol << ": " << m.syscalls << " syscalls, "
                                << m.sweeps << " sweeps for " << kExits << " exits");
        switch (pol) {
          case policy::own:
            // A peek and a wait4 per exit, one peek per sweep that ends it; no scan.
            BOOST_TEST(m.syscalls <= 2 * kExits + m.sweeps);
            BOOST_TEST(m.fallback_scans == 0u);
            break;
          case policy::all:
            BOOST_TEST(m.syscalls <= kExits + m.sweeps);
            break;
          case policy::pidfd:
            // wait4 and close per exit, one epoll_wait per sweep.
            BOOST_TEST(m.syscalls <= 2 * kExits + m.sweeps);
            BOOST_TEST(m.fallback_scans == 0u);
            break;
        }
        BOOST_TEST(m.sweeps <= kExits);  // signals coalesce: never more than one per exit
      }
    }
  }
  bg.open();
  for (pid_t p : background)
    BOOST_TEST(::waitpid(p, nullptr, 0) == p);
}

BOOST_AUTO_TEST_CASE(a_foreign_zombie_costs_own_at_most_one_scan_per_sweep) {
  using scale::kExits;
  gate bg;
  std::vector<pid_t> background;
  for (int i = 0; i < 1000; ++i)
    background.push_back(spawn_gated(bg, 0));
  const pid_t foreign = fork_exiting(0);  // nobody reaps it during the test
  wait_until_zombie(foreign);
  const auto m = scale::exits_with_background(*this, policy::own, background);
  BOOST_TEST(m.fallback_scans >= 1u);
  BOOST_TEST(m.fallback_scans <= m.sweeps);
  // A scan is one wait4 per owned child, plus the peek that found the foreign zombie.
  BOOST_TEST(m.syscalls <= m.fallback_scans * (background.size() + kExits + 2) + 2 * kExits);
  BOOST_TEST(::waitpid(foreign, nullptr, 0) == foreign);
  bg.open();
  for (pid_t p : background)
    BOOST_TEST(::waitpid(p, nullptr, 0) == p);
}

BOOST_AUTO_TEST_CASE(a_1ms_timer_keeps_running_while_ten_thousand_zombies_are_reaped) {
  for (policy pol : {policy::own, policy::pidfd}) {
    BOOST_TEST_CONTEXT("policy " << pol) {
      constexpr std::size_t kN = 10000;
      constexpr std::size_t kBatch = 64;
      options o;
      o.reap_policy = pol;
      o.max_batch = kBatch;
      reaper r{&loop, o};
      gate g;
      std::size_t delivered = 0;
      std::vector<pid_t> pids;
      for (std::size_t i = 0; i < kN; ++i) {
        pids.push_back(spawn_gated(g, 0));
        r.watch(pids.back(), [&](const exit_status&) { ++delivered; });
      }
      uv_run(&loop, UV_RUN_NOWAIT);
      g.open();
      // All 10,000 are zombies before the loop looks: one unbounded sweep could take
      // them all in a single loop iteration.
      for (pid_t p : pids)
        wait_until_zombie(p);

      struct probe {
        std::size_t* delivered;
        std::size_t last = 0;
        std::size_t most_per_iteration = 0;
        std::size_t ticks_mid_storm = 0;
        uv_check_t check{};
        uv_timer_t timer{};
      } pr{&delivered};
      uv_check_init(&loop, &pr.check);
      pr.check.data = &pr;
      uv_check_start(&pr.check, [](uv_check_t* h) {
        auto* p = static_cast<probe*>(h->data);
        p->most_per_iteration = std::max(p->most_per_iteration, *p->delivered - p->last);
        p->last = *p->delivered;
      });
      uv_timer_init(&loop, &pr.timer);
      pr.timer.data = &pr;
      uv_timer_start(
          &pr.timer,
          [](uv_timer_t* h) {
            auto* p = static_cast<probe*>(h->data);
            if (*p->delivered > 0 && *p->delivered < kN) ++p->ticks_mid_storm;
          },
          1, 1);
      run_until([&] { return delivered == kN; });
      uv_close(reinterpret_cast<uv_handle_t*>(&pr.check), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&pr.timer), nullptr);
      run_to_completion();

      BOOST_TEST(delivered == kN);
      BOOST_TEST(r.stats().largest_batch <= kBatch);
      // Each loop iteration runs at most two bounded sweeps (the continuation and the
      // wake-up that brought us there), then timers and I/O get their turn.
      BOOST_TEST(pr.most_per_iteration <= 2 * kBatch);
      // Reaping 10,000 children takes far longer than 2 ms, so a timer that the loop
      // kept serving fired while the storm was being drained.
      BOOST_TEST(pr.ticks_mid_storm >= 2u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
