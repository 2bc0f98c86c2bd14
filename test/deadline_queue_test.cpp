// SPDX-License-Identifier: MIT
// uvreap tests: the time-limit queue (private), on a fake clock: no loop, no processes.
#include "deadline_queue.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <random>
#include <vector>

using uvreap::detail::deadline_queue;

namespace {
// Arms with the room it needs, as the reaper does.
std::uint32_t arm(deadline_queue& q, pid_t pid, std::uint64_t due, int sig = SIGTERM,
                  std::uint64_t grace = 100, bool group = false) {
  q.reserve_one();
  return q.arm(pid, due, sig, grace, group);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(deadline_queue_suite)

BOOST_AUTO_TEST_CASE(a_step_comes_out_only_once_it_is_due_and_earliest_first) {
  deadline_queue q;
  arm(q, 30, 300);
  arm(q, 10, 100);
  arm(q, 20, 200);
  BOOST_TEST(*q.next_due() == 100u);
  deadline_queue::step s{};
  BOOST_TEST(!q.pop_due(99, s));  // the fake clock says: not yet
  BOOST_REQUIRE(q.pop_due(250, s));
  BOOST_TEST(s.pid == 10);
  BOOST_REQUIRE(q.pop_due(250, s));
  BOOST_TEST(s.pid == 20);
  BOOST_TEST(!q.pop_due(250, s));
  BOOST_TEST(*q.next_due() == 300u);
}

BOOST_AUTO_TEST_CASE(a_grace_of_2_to_the_32_ms_or_more_does_not_wrap) {
  // 2^32 + 1 ms once became 1 ms: SIGKILL a moment after SIGTERM instead of 49 days.
  constexpr std::uint64_t kGrace = (std::uint64_t{1} << 32) + 1;
  deadline_queue q;
  arm(q, 7, 1000, SIGTERM, kGrace);
  deadline_queue::step s{};
  BOOST_REQUIRE(q.pop_due(1000, s));
  q.follow_with_kill(s, 1000);
  BOOST_TEST(*q.next_due() == 1000 + kGrace);
  BOOST_TEST(!q.pop_due(1000 + kGrace - 1, s));
  BOOST_TEST(q.pop_due(1000 + kGrace, s));
}

BOOST_AUTO_TEST_CASE(a_first_step_is_followed_by_sigkill_a_grace_after_it_fired) {
  deadline_queue q;
  const auto serial = arm(q, 7, 1000, SIGTERM, 250, true);
  deadline_queue::step s{};
  BOOST_REQUIRE(q.pop_due(1040, s));  // fired 40 ms late
  BOOST_TEST(s.signal == SIGTERM);
  BOOST_TEST(!s.final);
  BOOST_TEST(s.serial == serial);
  q.follow_with_kill(s, 1040);
  BOOST_TEST(*q.next_due() == 1290u);  // counted from when the first step fired
  BOOST_TEST(!q.pop_due(1289, s));
  BOOST_REQUIRE(q.pop_due(1290, s));
  BOOST_TEST(s.signal == SIGKILL);
  BOOST_TEST(s.final);
  BOOST_TEST(s.group);
  BOOST_TEST(s.serial == serial);
  q.ended();
  BOOST_TEST(q.live() == 0u);
  BOOST_TEST(!q.next_due().has_value());
}

BOOST_AUTO_TEST_CASE(a_sigkill_limit_is_a_single_final_step) {
  deadline_queue q;
  arm(q, 5, 10, SIGKILL, 60000);
  deadline_queue::step s{};
  BOOST_REQUIRE(q.pop_due(10, s));
  BOOST_TEST(s.final);
  BOOST_TEST(s.signal == SIGKILL);
}

BOOST_AUTO_TEST_CASE(stale_steps_are_dropped_once_no_limit_is_live) {
  deadline_queue q;
  arm(q, 1, 100);
  arm(q, 2, 200);
  q.ended();  // child 1 was reaped: its step is stale but still queued
  BOOST_TEST(q.live() == 1u);
  BOOST_TEST(q.queued() == 2u);
  q.ended();  // child 2 too: nothing is wanted any more
  BOOST_TEST(q.live() == 0u);
  BOOST_TEST(q.queued() == 0u);
  BOOST_TEST(!q.next_due().has_value());
  q.ended();  // an extra end never underflows
  BOOST_TEST(q.live() == 0u);
}

BOOST_AUTO_TEST_CASE(serials_differ_and_skip_zero_across_the_wrap) {
  deadline_queue q(0xFFFFFFFEu);
  const auto a = arm(q, 1, 10);
  const auto b = arm(q, 2, 10);
  const auto c = arm(q, 3, 10);
  BOOST_TEST(a == 0xFFFFFFFFu);
  BOOST_TEST(b == 1u);  // 0 means "no time limit" to the table
  BOOST_TEST(c == 2u);
}

BOOST_AUTO_TEST_CASE(random_limits_fire_in_due_order_with_their_own_kill_steps) {
  // A model: each limit's first step at its due time, its SIGKILL step grace later.
  std::mt19937 rng(42);
  deadline_queue q;
  struct want {
    std::uint64_t due;
    pid_t pid;
    int signal;
  };
  std::vector<want> model;
  for (pid_t pid = 100; pid < 1100; ++pid) {
    const std::uint64_t due = rng() % 5000;
    const std::uint32_t grace = rng() % 300;
    arm(q, pid, due, SIGTERM, grace);
    model.push_back({due, pid, SIGTERM});
    model.push_back({due + grace, pid, SIGKILL});
  }
  std::vector<want> got;
  for (std::uint64_t now = 0; now <= 6000; now += 7) {  // a clock that ticks unevenly
    deadline_queue::step s{};
    while (q.pop_due(now, s)) {
      BOOST_REQUIRE(s.due_ms <= now);
      got.push_back({s.due_ms, s.pid, s.signal});
      // The model's SIGKILL step is due `grace` after the first step was *due*; fire
      // it from there so that the two agree on every time.
      if (!s.final) q.follow_with_kill(s, s.due_ms);
      if (s.final) q.ended();
    }
  }
  BOOST_TEST(q.live() == 0u);
  auto key = [](const want& w) { return std::tuple(w.due, w.pid, w.signal); };
  std::sort(model.begin(), model.end(), [&](auto& a, auto& b) { return key(a) < key(b); });
  BOOST_REQUIRE(got.size() == model.size());
  for (std::size_t i = 1; i < got.size(); ++i)
    BOOST_REQUIRE(got[i - 1].due <= got[i].due);  // never out of order
  std::sort(got.begin(), got.end(), [&](auto& a, auto& b) { return key(a) < key(b); });
  for (std::size_t i = 0; i < got.size(); ++i)
    BOOST_REQUIRE(key(got[i]) == key(model[i]));
}

BOOST_AUTO_TEST_SUITE_END()
