// SPDX-License-Identifier: MIT
// uvreap tests: cgroup v2 discovery and the library's cgroup directories — parsing of
// mountinfo, /proc/self/cgroup, cgroup.events and cpu.stat from text, then a real
// directory: a child born in it (clone3 CLONE_INTO_CGROUP), populated, killed through
// cgroup.kill, empty, removed. The real part needs a writable v2 hierarchy (root here).
#include "cgroup.hpp"

#include <linux/sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "support.hpp"

using namespace uvreap::detail;
using namespace std::chrono_literals;

namespace {

boost::test_tools::assertion_result writable_v2(boost::unit_test::test_unit_id) {
  std::string dir, why;
  if (auto ec = cgroup::own_directory(dir, why); ec) {
    boost::test_tools::assertion_result r(false);
    r.message() << why;
    return r;
  }
  cgroup::directory probe;
  const std::string name = "uvreap-test-probe-" + std::to_string(::getpid());
  if (auto ec = cgroup::directory::make(dir, name, probe); ec) {
    boost::test_tools::assertion_result r(false);
    r.message() << "cannot make a cgroup under " << dir << ": " << ec.message();
    return r;
  }
  return true;
}

[[noreturn]] void pause_forever(int) {
  for (;;)
    ::pause();
}

// A child born in the cgroup `cg_fd` (a fork of this process), running `body(arg)`; by
// default it blocks in pause() until killed.
pid_t clone_into(int cg_fd, void (*body)(int) = pause_forever, int arg = 0) {
  clone_args a{};
  a.flags = CLONE_INTO_CGROUP;
  a.exit_signal = SIGCHLD;
  a.cgroup = static_cast<std::uint64_t>(cg_fd);
  const long pid = ::syscall(SYS_clone3, &a, sizeof a);
  if (pid == 0) {
    body(arg);
    ::_exit(127);
  }
  return static_cast<pid_t>(pid);
}

// Forks without end: 20 sleepers, a byte on `ready_fd` (as fd 3), then a loop of
// short-lived children.
void fork_forever(int ready_fd) {
  ::dup2(ready_fd, 3);
  ::execl("/bin/sh", "sh", "-c",
          "i=0; while [ $i -lt 20 ]; do sleep 1000 3>&- & i=$((i+1)); done; "
          "echo -n r >&3; exec 3>&-; while :; do (true); done", static_cast<char*>(nullptr));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cgroup_suite)

BOOST_AUTO_TEST_CASE(the_v2_mount_is_found_in_unified_and_hybrid_layouts) {
  const std::string hybrid =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "40 31 0:36 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
  const std::string unified =
      "25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  const std::string spaced = "40 31 0:36 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
  const std::string v1_only = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
  std::string m;
  BOOST_TEST(!cgroup::find_v2_mount(hybrid, m));
  BOOST_TEST(m == "/sys/fs/cgroup/unified");
  BOOST_TEST(!cgroup::find_v2_mount(unified, m));
  BOOST_TEST(m == "/sys/fs/cgroup");
  BOOST_TEST(!cgroup::find_v2_mount(spaced, m));
  BOOST_TEST(m == "/mnt/my cgroups");
  BOOST_TEST(cgroup::find_v2_mount(v1_only, m).value() == ENOENT);
  BOOST_TEST(cgroup::find_v2_mount("", m).value() == ENOENT);
  BOOST_TEST(cgroup::find_v2_mount("garbage without fields\n - \n", m).value() == ENOENT);
}

BOOST_AUTO_TEST_CASE(the_own_path_is_the_0_line) {
  std::string p;
  BOOST_TEST(!cgroup::own_path("4:memory:/x\n0::/a/b\n", p));
  BOOST_TEST(p == "/a/b");
  BOOST_TEST(!cgroup::own_path("0::/\n", p));
  BOOST_TEST(p == "/");
  BOOST_TEST(cgroup::own_path("4:memory:/x\n1:cpu:/\n", p).value() == ENOENT);
}

BOOST_AUTO_TEST_CASE(events_and_cpu_stat_are_read_by_key) {
  bool pop = true;
  BOOST_TEST(!cgroup::parse_populated("populated 0\nfrozen 0\n", pop));
  BOOST_TEST(!pop);
  BOOST_TEST(!cgroup::parse_populated("frozen 0\npopulated 1", pop));
  BOOST_TEST(pop);
  BOOST_TEST(cgroup::parse_populated("frozen 0\n", pop).value() == EINVAL);
  BOOST_TEST(cgroup::parse_populated("populated 2\n", pop).value() == EINVAL);
  BOOST_TEST(cgroup::parse_populated("populated_x 1\n", pop).value() == EINVAL);
  std::chrono::microseconds u{};
  BOOST_TEST(!cgroup::parse_cpu_usage("usage_usec 1234\nuser_usec 1000\n", u));
  BOOST_TEST(u.count() == 1234);
  BOOST_TEST(cgroup::parse_cpu_usage("user_usec 1000\n", u).value() == EINVAL);
  BOOST_TEST(cgroup::parse_cpu_usage("usage_usec -5\n", u).value() == EINVAL);
}

BOOST_AUTO_TEST_CASE(a_directory_is_refused_where_it_cannot_be) {
  cgroup::directory d;
  BOOST_TEST(cgroup::directory::make("/nonexistent/cgroup", "x", d).value() == ENOENT);
  BOOST_TEST(cgroup::directory::make("/tmp", "x", d).value() == EINVAL);  // not a cgroup
  BOOST_TEST(cgroup::directory::make("/etc/hostname", "x", d).value() == ENOTDIR);
  BOOST_TEST(cgroup::directory::make("/sys/fs/cgroup", "a/b", d).value() == EINVAL);
  BOOST_TEST(!d.made());
}

BOOST_AUTO_TEST_CASE(a_child_born_in_a_directory_is_killed_through_it_and_the_directory_goes,
                     *boost::unit_test::precondition(writable_v2)) {
  std::string parent, why;
  BOOST_REQUIRE_MESSAGE(!cgroup::own_directory(parent, why), why);
  cgroup::directory d;
  const std::string name = "uvreap-test-" + std::to_string(::getpid());
  BOOST_REQUIRE(!cgroup::directory::make(parent, name, d));
  BOOST_TEST(d.path() == parent + "/" + name);
  bool pop = true;
  BOOST_TEST(!d.populated(pop));
  BOOST_TEST(!pop);
  const int fd = d.open_fd();
  BOOST_REQUIRE(fd >= 0);
  const pid_t pid = clone_into(fd);
  ::close(fd);
  BOOST_REQUIRE(pid > 0);
  BOOST_TEST(!d.populated(pop));
  BOOST_TEST(pop);
  // Busy while someone is in it.
  BOOST_TEST(d.remove().value() == EBUSY);
  BOOST_TEST(d.made());
  BOOST_TEST(!d.kill());
  int st = 0;
  BOOST_REQUIRE(::waitpid(pid, &st, 0) == pid);
  BOOST_TEST(WIFSIGNALED(st));
  BOOST_TEST(WTERMSIG(st) == SIGKILL);
  // "populated 0" follows the last member's exit; it is read here after the reap.
  BOOST_TEST(!d.populated(pop));
  BOOST_TEST(!pop);
  std::chrono::microseconds u{-1};
  BOOST_TEST(!d.cpu_usage(u));
  BOOST_TEST(u.count() >= 0);
  BOOST_TEST(!d.remove());
  BOOST_TEST(!d.made());
  BOOST_TEST(::access((parent + "/" + name).c_str(), F_OK) != 0);
}

// What kernels before 5.14 get instead of cgroup.kill: a tree that keeps forking, frozen
// and killed member by member, leaves the cgroup empty.
BOOST_AUTO_TEST_CASE(kill_frozen_empties_a_cgroup_whose_members_keep_forking,
                     *boost::unit_test::precondition(writable_v2)) {
  std::string parent, why;
  BOOST_REQUIRE_MESSAGE(!cgroup::own_directory(parent, why), why);
  cgroup::directory d;
  BOOST_REQUIRE(!cgroup::directory::make(parent, "uvreap-test-frozen-" + std::to_string(::getpid()), d));
  const int fd = d.open_fd();
  BOOST_REQUIRE(fd >= 0);
  int ready[2];
  BOOST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  const pid_t pid = clone_into(fd, fork_forever, ready[1]);
  ::close(fd);
  ::close(ready[1]);
  BOOST_REQUIRE(pid > 0);
  char c = 0;
  BOOST_REQUIRE(::read(ready[0], &c, 1) == 1);  // the sleepers are in (EOF if it died)
  ::close(ready[0]);
  const auto until = std::chrono::steady_clock::now() + 60s;
  int n = 0;
  BOOST_REQUIRE(!d.count(n));
  BOOST_TEST(n >= 21);
  BOOST_TEST(!d.kill_frozen());
  int st = 0;
  BOOST_REQUIRE(::waitpid(static_cast<pid_t>(pid), &st, 0) == pid);
  BOOST_TEST(WIFSIGNALED(st));
  BOOST_TEST(WTERMSIG(st) == SIGKILL);
  // The others were re-parented (to init or a subreaper): their end is seen through the
  // cgroup, each pid polled through its pidfd.
  bool pop = true;
  while (std::chrono::steady_clock::now() < until) {
    BOOST_REQUIRE(!d.populated(pop));
    if (!pop) break;
    std::vector<pid_t> left;
    BOOST_REQUIRE(!d.members(left));
    if (left.empty()) continue;
    const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, left.front(), 0));
    if (pfd < 0) continue;
    pollfd p{pfd, POLLIN, 0};
    (void)::poll(&p, 1, 60000);
    ::close(pfd);
  }
  BOOST_TEST(!pop);
  BOOST_TEST(!d.remove());
}

BOOST_AUTO_TEST_SUITE_END()
