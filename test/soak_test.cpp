// SPDX-License-Identifier: MIT
// uvreap tests: the soak — 100,000 children through a reaper with 10,000 others alive.
// Built into the test binary always, registered with meson only with -Dsoak=true.
#include <malloc.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace soak {

long rss_kib() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace soak

BOOST_FIXTURE_TEST_SUITE(soak_suite, loop_fixture)

BOOST_DATA_TEST_CASE_F(loop_fixture, a_hundred_thousand_children_with_ten_thousand_alive,
                       boost::unit_test::data::make({policy::own, policy::all, policy::pidfd}),
                       pol) {
  constexpr std::size_t kChildren = 100000;
  constexpr std::size_t kAlive = 10000;
  const int fds_before = open_fd_count();
  ::malloc_trim(0);
  const long rss_before = soak::rss_kib();
  {
    options o;
    o.reap_policy = pol;
    reaper r{&loop, o};
    // Expected code per pid; a pid may be reused by the kernel after its reap, so the
    // check happens in the callback against the code recorded at fork time.
    std::vector<int> code_of(1u << 22, -1);
    std::size_t delivered = 0, wrong = 0, twice = 0;
    auto cb = [&](const exit_status& s) {
      ++delivered;
      int& want = code_of[static_cast<std::size_t>(s.pid())];
      if (want < 0) {
        ++twice;
      } else if (!s.exited() || s.code() != want) {
        ++wrong;
      }
      want = -1;
    };
    gate background;
    for (std::size_t i = 0; i < kAlive; ++i) {
      const pid_t pid = spawn_gated(background, 7);
      code_of[static_cast<std::size_t>(pid)] = 7;
      r.watch(pid, cb);
    }
    for (std::size_t i = 0; i < kChildren; ++i) {
      const int code = static_cast<int>(i % 200);
      const pid_t pid = fork_exiting(code);
      code_of[static_cast<std::size_t>(pid)] = code;
      r.watch(pid, cb);
      if (i % 64 == 0) uv_run(&loop, UV_RUN_NOWAIT);
    }
    run_until([&] { return delivered >= kChildren; }, std::chrono::minutes{10});
    BOOST_TEST(r.size() == kAlive);
    background.open();
    run_until([&] { return delivered >= kChildren + kAlive; }, std::chrono::minutes{10});
    BOOST_TEST(delivered == kChildren + kAlive);
    BOOST_TEST(wrong == 0u);
    BOOST_TEST(twice == 0u);
    const auto st = r.stats();
    BOOST_TEST(st.lost == 0u);
    BOOST_TEST(st.exits_reaped == kChildren + kAlive);
    BOOST_TEST_MESSAGE(pol << ": " << st.sweeps << " sweeps, " << st.syscalls.total()
                           << " syscalls, largest batch " << st.largest_batch << ", fallback scans "
                           << st.fallback_scans);
  }
  run_to_completion();
  BOOST_TEST(no_zombies());
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds_before);
  ::malloc_trim(0);
  const long rss_after = soak::rss_kib();
  BOOST_TEST_MESSAGE(pol << ": RSS " << rss_before << " KiB before, " << rss_after << " KiB after");
  BOOST_TEST(rss_after <= rss_before + 64 * 1024);
}

BOOST_AUTO_TEST_SUITE_END()
