// SPDX-License-Identifier: MIT
// uvreap tests: the pid table (private), checked against a std::map model.
#include "child_table.hpp"
#include "exit_status_builder.hpp"

#include <boost/test/unit_test.hpp>
#include <map>
#include <random>

using uvreap::exit_status;
using uvreap::detail::child_table;

namespace {
uvreap::exit_callback tagged(int* out, int tag) {
  return [out, tag](const exit_status&) { *out = tag; };
}
}  // namespace

BOOST_AUTO_TEST_SUITE(child_table_suite)

BOOST_AUTO_TEST_CASE(insert_find_take_keep_each_pid_with_its_own_callback) {
  child_table t;
  int hit = 0;
  BOOST_TEST(t.insert(100, tagged(&hit, 1)));
  BOOST_TEST(t.insert(200, tagged(&hit, 2)));
  BOOST_TEST(!t.insert(100, tagged(&hit, 3)));  // duplicates are refused, table unchanged
  BOOST_TEST(t.size() == 2u);
  BOOST_REQUIRE(t.find(100) != nullptr);
  t.find(100)->callback(uvreap::detail::exit_status_builder::lost(100));
  BOOST_TEST(hit == 1);
  auto cb = t.take(200);
  BOOST_REQUIRE(cb);
  cb(uvreap::detail::exit_status_builder::lost(200));
  BOOST_TEST(hit == 2);
  BOOST_TEST(!t.contains(200));
  BOOST_TEST(!t.take(200));
  BOOST_TEST(t.size() == 1u);
}

BOOST_AUTO_TEST_CASE(random_operations_agree_with_a_map_through_growth_and_collisions) {
  child_table t;
  std::map<pid_t, int> model;
  std::mt19937 rng(12345);
  // A small pid range forces long probe runs, wrap-around and backward shifts.
  std::uniform_int_distribution<pid_t> pid(1, 3000);
  std::uniform_int_distribution<int> op(0, 9);
  int seen = 0;
  for (int i = 0; i < 200000; ++i) {
    const pid_t p = pid(rng);
    const int o = op(rng);
    if (o < 5) {
      const bool fresh = model.count(p) == 0;
      BOOST_REQUIRE_EQUAL(t.insert(p, tagged(&seen, i)), fresh);
      if (fresh) model[p] = i;
    } else if (o < 8) {
      auto cb = t.take(p);
      const auto it = model.find(p);
      BOOST_REQUIRE_EQUAL(static_cast<bool>(cb), it != model.end());
      if (cb) {
        cb(uvreap::detail::exit_status_builder::lost(p));
        BOOST_REQUIRE_EQUAL(seen, it->second);
        model.erase(it);
      }
    } else {
      BOOST_REQUIRE_EQUAL(t.contains(p), model.count(p) == 1);
    }
    BOOST_REQUIRE_EQUAL(t.size(), model.size());
  }
  // Dense iteration visits exactly the live pids.
  std::map<pid_t, int> walked;
  for (std::size_t i = 0; i < t.size(); ++i)
    walked[t.at(i).pid] = 1;
  BOOST_TEST(walked.size() == model.size());
  for (const auto& [p, v] : model)
    BOOST_TEST(walked.count(p) == 1u);
}

BOOST_AUTO_TEST_CASE(take_at_during_a_scan_visits_every_entry_once) {
  child_table t;
  for (pid_t p = 1; p <= 1000; ++p)
    t.insert(p, [](const exit_status&) {});
  std::map<pid_t, int> visits;
  // The reaper's fallback scan: take even pids, step over odd ones.
  for (std::size_t i = 0; i < t.size();) {
    const pid_t p = t.at(i).pid;
    ++visits[p];
    if (p % 2 == 0) {
      t.take_at(i);
    } else {
      ++i;
    }
  }
  BOOST_TEST(visits.size() == 1000u);
  for (const auto& [p, n] : visits)
    BOOST_TEST(n == 1);
  BOOST_TEST(t.size() == 500u);
  for (pid_t p = 1; p <= 1000; ++p)
    BOOST_TEST(t.contains(p) == (p % 2 == 1));
}

BOOST_AUTO_TEST_CASE(insert_after_reserve_never_reallocates_the_entries) {
  child_table t;
  t.reserve(100000);
  t.insert(1, [](const exit_status&) {});
  const auto* first = t.find(1);
  for (pid_t p = 2; p <= 100000; ++p)
    t.insert(p, [](const exit_status&) {});
  BOOST_TEST(t.find(1) == first);
  BOOST_TEST(t.size() == 100000u);
  t.clear();
  BOOST_TEST(t.empty());
  BOOST_TEST(!t.contains(1));
}

BOOST_AUTO_TEST_SUITE_END()
