// SPDX-License-Identifier: MIT
// uvreap tests: exit storms — nothing lost, nothing twice, no zombie, no leaked fd.
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <unordered_map>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace storm {

// Every delivery checked against what the child was told to exit with. Pids recycle
// (pid_max is 32,768 here, and other suites fork in parallel), so a pid is expected
// again only after its previous holder was delivered: the ledger keys what is still
// outstanding, and counts what it was told to expect.
struct ledger {
  std::unordered_map<pid_t, int> outstanding;  // pid -> code, until delivered
  std::size_t expected = 0;
  std::size_t wrong = 0;  // a wrong status, or a pid nobody expected (twice, say)
  std::size_t delivered = 0;

  // Records that `pid` was just given to a reaper and will exit with `code`.
  void expect(pid_t pid, int code) {
    if (!outstanding.emplace(pid, code).second) ++wrong;  // still owed: cannot be reused
    ++expected;
  }
  // Adopts `pid` into `r`, expecting it to exit with `code`.
  void watch(reaper& r, pid_t pid, int code) {
    expect(pid, code);
    r.watch(pid, cb());
  }

  exit_callback cb() {
    return [this](const exit_status& s) {
      ++delivered;
      const auto it = outstanding.find(s.pid());
      if (it == outstanding.end() || !s.exited() || s.code() != it->second) {
        ++wrong;
        return;
      }
      outstanding.erase(it);
    };
  }
  void check_exactly_once() const {
    BOOST_TEST(wrong == 0u);
    BOOST_TEST(delivered == expected);
    BOOST_TEST(outstanding.empty());
  }
};

inline const auto kPolicies =
    boost::unit_test::data::make({policy::own, policy::all, policy::pidfd});

}  // namespace storm

using storm::kPolicies;
using storm::ledger;

BOOST_FIXTURE_TEST_SUITE(storm_suite, loop_fixture)

BOOST_DATA_TEST_CASE_F(loop_fixture,
                       a_thousand_spawned_children_exiting_at_once_give_a_thousand_callbacks,
                       kPolicies, pol) {
  options o;
  o.reap_policy = pol;
  reaper r{&loop, o};
  ledger led;
  gate g;
  for (int i = 0; i < 1000; ++i) {
    const pid_t pid = r.spawn(gated_helper(g, i % 256), led.cb());
    led.expect(pid, i % 256);
  }
  g.open();
  run_until([&] { return led.delivered >= 1000; });
  run_to_completion();
  led.check_exactly_once();
  BOOST_TEST(r.stats().lost == 0u);
  BOOST_TEST(r.stats().largest_batch > 1u);  // they really came in batches
}

BOOST_DATA_TEST_CASE_F(loop_fixture, ten_thousand_exits_with_a_thousand_others_alive_lose_nothing,
                       kPolicies, pol) {
  const int fds_before = open_fd_count();
  {
    options o;
    o.reap_policy = pol;
    reaper r{&loop, o};
    ledger led;
    gate background;
    for (int i = 0; i < 1000; ++i) {
      led.watch(r, spawn_gated(background, 200), 200);
    }
    for (int i = 0; i < 10000; ++i) {
      // One in eight adopted forks, the rest spawned: both ways in. A fork is adopted
      // before the loop runs again, so no sweep can see it unowned. (Spawned children are
      // the cheap ones in a sanitizer build, where every fork copies a large address space.)
      pid_t pid;
      if (i % 8 == 0) {
        pid = fork_exiting(i % 200);
        r.watch(pid, led.cb());
      } else {
        spawn_options so;
        so.argv = {"/bin/sh", "-c", "exit " + std::to_string(i % 200)};
        pid = r.spawn(so, led.cb());
      }
      led.expect(pid, i % 200);
      if (i % 64 == 0) uv_run(&loop, UV_RUN_NOWAIT);
    }
    run_until([&] { return led.delivered >= 10000; });
    BOOST_TEST(r.size() == 1000u);  // the background is untouched
    background.open();
    run_until([&] { return led.delivered >= 11000; });
    run_to_completion();
    led.check_exactly_once();
    BOOST_TEST(r.stats().lost == 0u);
    BOOST_TEST(r.stats().exits_reaped == 11000u);
    BOOST_TEST(r.size() == 0u);
  }
  run_to_completion();
  BOOST_TEST(no_zombies());
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds_before);
}

BOOST_AUTO_TEST_CASE(a_storm_is_swept_in_bounded_batches) {
  options o;
  o.max_batch = 16;
  reaper r{&loop, o};
  ledger led;
  gate g;
  for (int i = 0; i < 500; ++i) {
    led.watch(r, fork_gated(g, 1), 1);
  }
  g.open();
  for (pid_t p : children_census())
    wait_until_zombie(p);  // all 500 waiting at once
  run_until([&] { return led.delivered >= 500; });
  led.check_exactly_once();
  BOOST_TEST(r.stats().largest_batch <= 16u);
  BOOST_TEST(r.stats().continuations >= 500u / 16u - 1u);
}

BOOST_AUTO_TEST_SUITE_END()
