// SPDX-License-Identifier: MIT
// uvreap tests: a child's whole tree (spawn_options::tree) against hostile trees — a
// setsid daemon, a double fork, members that ignore SIGTERM, a member that re-execs, a
// loop forking 500 processes. After the child's own exit, a time limit, kill_tree and
// close: no process of the tree left (found by a token in their environment, scanned in
// /proc), no zombie of ours, no cgroup left behind. Under every tree policy; the meson
// tests run the suite under each reap policy.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
using namespace std::chrono_literals;

namespace {

// Cgroup trees need a writable cgroup v2 hierarchy (root, here).
boost::test_tools::assertion_result cgroups_usable(boost::unit_test::test_unit_id) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return false;
  std::string why;
  std::error_code ec;
  {
    auto r = reaper::create(&loop, options{}, ec);
    if (r) ec = r->cgroup_status(&why);
  }
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
  }
  (void)uv_loop_close(&loop);
  if (!ec) return true;
  boost::test_tools::assertion_result res(false);
  res.message() << "cgroup trees cannot be made here: " << why;
  return res;
}

// Every process of one test's trees carries this in its environment.
std::string new_token() {
  static std::atomic<int> n{0};
  return "UVREAP_TREE_TOKEN=" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

// Live processes (not zombies) whose environment holds `token`.
std::vector<pid_t> carrying(const std::string& token) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t p = static_cast<pid_t>(std::atol(e->d_name));
    if (p <= 0 || p == ::getpid()) continue;
    std::ifstream st(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(st, line);
    const auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= line.size()) continue;
    if (line[close_paren + 2] == 'Z') continue;  // dead; whose zombie it is is checked apart
    std::ifstream env(std::string("/proc/") + e->d_name + "/environ");
    std::stringstream all;
    all << env.rdbuf();
    const std::string s = all.str();
    std::size_t at = 0;
    while (at < s.size()) {
      std::size_t end = s.find('\0', at);
      if (end == std::string::npos) end = s.size();
      if (s.compare(at, end - at, token) == 0) {
        out.push_back(p);
        break;
      }
      at = end + 1;
    }
  }
  ::closedir(d);
  return out;
}

// Waits until every live process carrying `token` has ended — each through a pidfd (they
// are not our children: a SIGKILL already sent is on its way) — or a generous deadline
// passes; true when none is left.
bool all_gone(const std::string& token, std::chrono::milliseconds deadline = 60s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    const auto left = carrying(token);
    if (left.empty()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, left.front(), 0));
    if (fd < 0) continue;  // gone already (ESRCH): look again
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()));
    ::close(fd);
  }
}

// After a test: nothing of its trees may be left; anything that is gets killed so that the
// next test starts clean.
std::string describe(pid_t p) {
  std::ifstream st("/proc/" + std::to_string(p) + "/stat");
  std::string line;
  std::getline(st, line);
  return line;
}

void expect_none_left(const std::string& token, std::size_t allowed = 0) {
  const auto left = carrying(token);
  std::string what;
  for (pid_t p : left)
    what += "\n  " + describe(p);
  BOOST_TEST(left.size() == allowed, left.size() << " processes of the tree left:" << what);
  for (pid_t p : left)
    ::kill(p, SIGKILL);
}

// The home's sub-cgroups that hold processes (one per live or draining tree; the empty
// ones wait in the reaper's pool for the next tree, and go at close).
std::size_t cgroups_in(const std::string& home) {
  std::size_t n = 0;
  DIR* d = ::opendir(home.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    std::ifstream events(home + "/" + e->d_name + "/cgroup.events");
    std::string key, value;
    while (events >> key >> value) {
      if (key == "populated" && value == "1") ++n;
    }
  }
  ::closedir(d);
  return n;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Reads `n` bytes from `fd`, failing the test after a generous deadline.
void read_bytes(int fd, std::size_t n, std::chrono::milliseconds deadline = 60s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t got = 0;
  char buf[512];
  while (got < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    BOOST_REQUIRE_MESSAGE(left.count() > 0, "only " << got << " of " << n << " bytes came");
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    BOOST_REQUIRE(r >= 0);
    if (r == 0) continue;
    const ssize_t k = ::read(fd, buf, std::min(sizeof buf, n - got));
    if (k < 0 && errno == EINTR) continue;
    BOOST_REQUIRE_MESSAGE(k > 0, "EOF after " << got << " of " << n << " bytes");
    got += static_cast<std::size_t>(k);
  }
}

// The hostile members, each of which writes one byte to fd 1 once it runs:
//   a setsid daemon, a double fork, a member ignoring SIGTERM (and every process it
//   starts), and a member that re-execs itself before it settles.
constexpr const char* kDaemon = "setsid sh -c 'echo -n d; exec sleep 1000' & ";
constexpr const char* kDoubleFork = "(sh -c 'echo -n f; exec sleep 1000' &) ; ";
constexpr const char* kTermIgnorer = "sh -c 'trap \"\" TERM; echo -n i; sleep 1000; sleep 1000' & ";
constexpr const char* kReexec = "sh -c 'exec sh -c \"echo -n r; exec sleep 1000\"' & ";

// A leader starting `members`, then blocking on its stdin (the gate) and exiting 7 when
// it opens — or, with `forever`, never exiting on its own.
spawn_options hostile(const std::string& token, const std::string& members, const gate& g,
                      const pipe_pair& out, uvreap::tree t, bool forever = false) {
  spawn_options o =
      shell(members + (forever ? "exec sleep 1000" : "read x; exit 7"));
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    env.emplace_back(*e);
  env.push_back(token);
  o.env = std::move(env);
  o.stdio_map = {stdio::from_fd(g.read_fd()), stdio::from_fd(out.wr), stdio::inherit()};
  o.tree = t;
  return o;
}

std::string all_members() {
  return std::string(kDaemon) + kDoubleFork + kTermIgnorer + kReexec;
}
constexpr std::size_t kAllMembers = 4;

std::string grouped_members() {  // what a process group can hold: no setsid
  return std::string(kDoubleFork) + kTermIgnorer + kReexec;
}
constexpr std::size_t kGroupedMembers = 3;

}  // namespace

BOOST_AUTO_TEST_SUITE(tree_suite)

// ---------------------------------------------------------------------------------------
// tree::cgroup

BOOST_FIXTURE_TEST_CASE(a_cgroup_tree_is_killed_when_its_child_exits_and_the_callback_waits_for_it,
                        reaper_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  std::string home;
  BOOST_REQUIRE(!r.cgroup_status(&home));
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  const pid_t pid = r.spawn(hostile(token, all_members(), g, out, tree::cgroup), rec.cb());
  out.close_write();
  read_bytes(out.rd, kAllMembers);
  BOOST_TEST(carrying(token).size() >= kAllMembers + 1);  // the leader too
  BOOST_TEST(cgroups_in(home) == 1u);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.exited());
  BOOST_TEST(st.code() == 7);
  BOOST_TEST(st.tree_info().applied == tree::cgroup);
  // Each member is a shell or a sleep it exec'd, the ignorer a shell and its sleep.
  BOOST_TEST(st.tree_info().descendants_at_exit >= static_cast<int>(kAllMembers));
  BOOST_TEST(st.tree_info().cpu.count() >= 0);
  // The callback came once the cgroup was empty: nothing to wait for here.
  expect_none_left(token);
  BOOST_TEST(cgroups_in(home) == 0u);
  BOOST_TEST(no_zombies());
  bool closed = false;
  r.close({}, [&] { closed = true; });
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(!exists(home), home << " left behind");
}

BOOST_FIXTURE_TEST_CASE(a_child_alone_in_its_cgroup_is_delivered_with_no_descendants,
                        reaper_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  auto o = shell("exit 4");
  o.tree = tree::cgroup;
  const pid_t pid = r.spawn(o, rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.code() == 4);
  BOOST_TEST(st.tree_info().applied == tree::cgroup);
  BOOST_TEST(st.tree_info().descendants_at_exit == 0);
  BOOST_TEST(st.tree_info().cpu.count() >= 0);
}

BOOST_FIXTURE_TEST_CASE(children_after_a_killed_tree_are_born_and_run_normally, reaper_fixture,
                        *boost::unit_test::precondition(cgroups_usable)) {
  // A tree whose leftover is killed, then children spawned one after another: none may be
  // killed at birth (a cgroup once killed through cgroup.kill is not reused).
  for (const char* script : {"(sleep 1000 &); exit 0", "exit 1", "exit 2", "(sleep 1000 &); exit 3",
                             "exit 4"}) {
    auto o = shell(script);
    o.tree = tree::cgroup;
    const pid_t pid = r.spawn(o, rec.cb());
    const std::size_t want = rec.calls + 1;
    BOOST_REQUIRE(run_until([&] { return rec.calls == want; }));
    const exit_status& st = rec.by_pid[pid].at(0);
    BOOST_TEST(st.exited(), script << ": " << st);
  }
}

BOOST_FIXTURE_TEST_CASE(a_time_limit_ends_the_whole_cgroup_tree, reaper_fixture,
                        *boost::unit_test::precondition(cgroups_usable)) {
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  auto o = hostile(token, all_members(), g, out, tree::cgroup, true);
  o.time_limit = deadline{200ms, SIGTERM, 300ms, false};
  const pid_t pid = r.spawn(o, rec.cb());
  out.close_write();
  read_bytes(out.rd, kAllMembers);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.deadline_fired());
  BOOST_TEST(st.signaled());
  BOOST_TEST(st.tree_info().applied == tree::cgroup);
  expect_none_left(token);
}

BOOST_FIXTURE_TEST_CASE(kill_tree_signals_every_member_and_sigkill_ends_them_all,
                        reaper_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  const pid_t pid =
      r.spawn(hostile(token, all_members(), g, out, tree::cgroup, true), rec.cb());
  out.close_write();
  read_bytes(out.rd, kAllMembers);
  // SIGTERM reaches every member: all go but the ignorer and its sleep (both ignore it).
  r.kill_tree(pid, SIGTERM);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.signaled());
  BOOST_TEST(st.signal() == SIGTERM);
  // The leader's exit killed the ignorers; the callback came once they were gone.
  BOOST_TEST(st.tree_info().descendants_at_exit >= 1);
  expect_none_left(token);
  // A tree whose callback has run is not ours any more.
  std::error_code ec;
  r.kill_tree(pid, SIGKILL, ec);
  BOOST_TEST(ec == std::errc::no_such_process);
}

BOOST_FIXTURE_TEST_CASE(kill_tree_sigkill_reaches_a_tree_that_forks_500_processes,
                        reaper_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  const std::string forker =
      "i=0; while [ $i -lt 500 ]; do sleep 1000 & i=$((i+1)); done; echo -n 5; ";
  const pid_t pid = r.spawn(hostile(token, forker, g, out, tree::cgroup, true), rec.cb());
  out.close_write();
  read_bytes(out.rd, 1);
  r.kill_tree(pid, SIGKILL);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.signal() == SIGKILL);
  expect_none_left(token);
}

BOOST_FIXTURE_TEST_CASE(close_kill_children_ends_whole_trees_and_removes_every_cgroup,
                        loop_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  reaper r{&loop, test_options()};
  recorder rec;
  std::string home;
  BOOST_REQUIRE(!r.cgroup_status(&home));
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  constexpr int kTrees = 3;
  for (int i = 0; i < kTrees; ++i)
    r.spawn(hostile(token, all_members(), g, out, tree::cgroup), rec.cb());
  out.close_write();
  read_bytes(out.rd, kTrees * kAllMembers);
  bool closed = false;
  r.close(close_options::kill_children(200ms), [&] { closed = true; });
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(rec.calls == 0);  // no callback after close
  expect_none_left(token);
  BOOST_TEST(!exists(home), home << " left behind");
}

BOOST_FIXTURE_TEST_CASE(a_hundred_trees_at_once_leave_nothing, reaper_fixture,
                        *boost::unit_test::precondition(cgroups_usable)) {
  std::string home;
  BOOST_REQUIRE(!r.cgroup_status(&home));
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  constexpr int kTrees = 100;
  const std::string members = std::string(kDaemon) + kDoubleFork;
  for (int i = 0; i < kTrees; ++i)
    r.spawn(hostile(token, members, g, out, tree::cgroup), rec.cb());
  out.close_write();
  read_bytes(out.rd, kTrees * 2);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == kTrees; }));
  int descendants = 0;
  for (const auto& [pid, list] : rec.by_pid) {
    BOOST_TEST(list.size() == 1u);
    BOOST_TEST(list.at(0).code() == 7);
    descendants += list.at(0).tree_info().descendants_at_exit;
  }
  BOOST_TEST(descendants >= kTrees * 2);
  expect_none_left(token);
  BOOST_TEST(cgroups_in(home) == 0u);
}

BOOST_FIXTURE_TEST_CASE(spawn_async_and_a_spawn_from_another_thread_contain_their_trees,
                        reaper_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  pid_t started = -1;
  r.spawn_async(hostile(token, all_members(), g, out, tree::cgroup),
                [&](pid_t pid, std::error_code) { started = pid; }, rec.cb());
  pid_t from_thread = -1;
  std::thread t([&] {
    from_thread = r.spawn(hostile(token, all_members(), g, out, tree::cgroup), rec.cb());
  });
  t.join();
  BOOST_REQUIRE(run_until([&] { return started > 0 && r.watching(from_thread); }));
  out.close_write();
  read_bytes(out.rd, 2 * kAllMembers);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 2; }));
  for (pid_t p : {started, from_thread}) {
    BOOST_TEST(rec.by_pid[p].at(0).tree_info().applied == tree::cgroup);
    BOOST_TEST(rec.by_pid[p].at(0).tree_info().descendants_at_exit >= static_cast<int>(kAllMembers));
  }
  expect_none_left(token);
}

BOOST_FIXTURE_TEST_CASE(automatic_takes_a_cgroup_where_it_can, reaper_fixture,
                        *boost::unit_test::precondition(cgroups_usable)) {
  auto o = shell("sleep 1000 & exit 0");
  o.tree = tree::automatic;
  const pid_t pid = r.spawn(o, rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).tree_info().applied == tree::cgroup);
  BOOST_TEST(rec.by_pid[pid].at(0).tree_info().descendants_at_exit == 1);
}

// ---------------------------------------------------------------------------------------
// Without a usable cgroup

BOOST_FIXTURE_TEST_CASE(an_unusable_cgroup_parent_fails_cgroup_spawns_and_automatic_falls_back,
                        loop_fixture) {
  auto opts = test_options();
  opts.cgroup_parent = "/nonexistent-uvreap-parent";
  reaper r{&loop, opts};
  recorder rec;
  std::string why;
  const std::error_code status = r.cgroup_status(&why);
  BOOST_TEST(status == std::errc::no_such_file_or_directory);
  BOOST_TEST(why.find("/nonexistent-uvreap-parent") != std::string::npos, why);
  auto o = shell("exit 0");
  o.tree = tree::cgroup;
  std::error_code ec;
  BOOST_TEST(r.spawn(o, rec.cb(), ec) == -1);
  BOOST_TEST(ec == std::errc::no_such_file_or_directory);
  BOOST_TEST(children_census().empty());
  // Not a cgroup at all: EINVAL, with the reason. (Policy own: one `all` reaper at a time.)
  options opts2;
  opts2.cgroup_parent = "/proc";
  reaper r2{&loop, opts2};
  BOOST_TEST(r2.spawn(o, rec.cb(), ec) == -1);
  BOOST_TEST(ec == std::errc::invalid_argument);
  // automatic takes a process group and says so.
  o.tree = tree::automatic;
  o.argv = {"/bin/sh", "-c", "sleep 1000 & exit 0"};
  const std::string token = new_token();
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin", token};
  const pid_t pid = r.spawn(o, rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.tree_info().applied == tree::process_group);
  BOOST_TEST(st.tree_info().descendants_at_exit == -1);
  BOOST_TEST(all_gone(token));  // SIGKILL is on its way
  expect_none_left(token);
}

// ---------------------------------------------------------------------------------------
// tree::process_group

BOOST_FIXTURE_TEST_CASE(a_process_group_tree_is_killed_with_its_child, reaper_fixture) {
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  const pid_t pid =
      r.spawn(hostile(token, grouped_members(), g, out, tree::process_group), rec.cb());
  out.close_write();
  read_bytes(out.rd, kGroupedMembers);
  BOOST_TEST(::getpgid(pid) == pid);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  const exit_status& st = rec.by_pid[pid].at(0);
  BOOST_TEST(st.code() == 7);
  BOOST_TEST(st.tree_info().applied == tree::process_group);
  // The group's SIGKILL was sent before the callback; its delivery is the kernel's.
  BOOST_TEST(all_gone(token));
  expect_none_left(token);
}

BOOST_FIXTURE_TEST_CASE(a_process_group_time_limit_kill_tree_and_close_reach_the_group,
                        loop_fixture) {
  reaper r{&loop, test_options()};
  recorder rec;
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  auto limited = hostile(token, grouped_members(), g, out, tree::process_group, true);
  limited.time_limit = deadline{200ms, SIGTERM, 300ms, false};
  const pid_t a = r.spawn(limited, rec.cb());
  const pid_t b = r.spawn(hostile(token, grouped_members(), g, out, tree::process_group, true),
                          rec.cb());
  const pid_t c = r.spawn(hostile(token, grouped_members(), g, out, tree::process_group, true),
                          rec.cb());
  out.close_write();
  read_bytes(out.rd, 3 * kGroupedMembers);
  r.kill_tree(b, SIGKILL);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 2; }));
  BOOST_TEST(rec.by_pid[a].at(0).deadline_fired());
  BOOST_TEST(rec.by_pid[b].at(0).signal() == SIGKILL);
  BOOST_TEST(r.watching(c));
  bool closed = false;
  r.close(close_options::kill_children(200ms), [&] { closed = true; });
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(all_gone(token));
  expect_none_left(token);
}

BOOST_FIXTURE_TEST_CASE(a_setsid_daemon_escapes_a_process_group_as_documented, reaper_fixture) {
  const std::string token = new_token();
  gate g;
  pipe_pair out;
  const pid_t pid = r.spawn(hostile(token, kDaemon, g, out, tree::process_group), rec.cb());
  out.close_write();
  read_bytes(out.rd, 1);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).tree_info().applied == tree::process_group);
  expect_none_left(token, 1);  // the daemon, killed here
}

// ---------------------------------------------------------------------------------------
// tree::none and errors

BOOST_FIXTURE_TEST_CASE(without_a_tree_the_record_says_none_and_kill_tree_refuses,
                        reaper_fixture) {
  gate g;
  const pid_t pid = r.spawn(gated_helper(g, 0), rec.cb());
  std::error_code ec;
  r.kill_tree(pid, SIGTERM, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.kill_tree(0, SIGTERM, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  r.kill_tree(pid, NSIG, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  auto o = shell("exit 0");
  o.tree = static_cast<tree>(9);
  BOOST_TEST(r.spawn(o, rec.cb(), ec) == -1);
  BOOST_TEST(ec == std::errc::invalid_argument);
  g.open();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid[pid].at(0).tree_info().applied == tree::none);
  BOOST_TEST(rec.by_pid[pid].at(0).tree_info().descendants_at_exit == -1);
  BOOST_TEST(rec.by_pid[pid].at(0).tree_info().cpu.count() == -1);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------
// reaper::run: spawn, feed, collect, with the tree contained.

BOOST_AUTO_TEST_SUITE(run_suite)

namespace {

// libuv keeps one fd per loop from its first stream on (a spare for EMFILE): made before
// a test counts fds, so that only the library's own are counted.
int fds_with_streams(uv_loop_t* loop) {
  uv_pipe_t p;
  BOOST_REQUIRE(uv_pipe_init(loop, &p, 0) == 0);
  uv_close(reinterpret_cast<uv_handle_t*>(&p), nullptr);
  (void)uv_run(loop, UV_RUN_NOWAIT);
  return open_fd_count();
}

struct collected {
  int calls = 0;
  run_result last;
  run_callback cb() {
    return [this](run_result& r) {
      last = std::move(r);
      ++calls;
    };
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(run_collects_stdout_stderr_and_the_exit, reaper_fixture) {
  collected c;
  // A first run: the reaper's cgroup home and its pool (whose empty cgroups it keeps open
  // until close) are made by it.
  r.run(shell("exit 0"), {}, c.cb());
  BOOST_REQUIRE(run_until([&] { return c.calls == 1; }));
  const int fds_before = fds_with_streams(&loop);
  const pid_t pid =
      r.run(shell("echo out; echo err >&2; echo more; exit 3"), {}, c.cb());
  BOOST_REQUIRE(run_until([&] { return c.calls == 2; }));
  BOOST_TEST(c.last.status.pid() == pid);
  BOOST_TEST(c.last.status.code() == 3);
  BOOST_TEST(c.last.out == "out\nmore\n");
  BOOST_TEST(c.last.err == "err\n");
  BOOST_TEST(!c.last.out_truncated);
  BOOST_TEST(!c.last.output_cut);
  BOOST_TEST(!c.last.input_error);
  // The tree is contained even though none was asked for.
  BOOST_TEST(c.last.status.tree_info().applied != tree::none);
  BOOST_REQUIRE(run_until([&] { return open_fd_count() == fds_before; }));  // handles closing
}

BOOST_FIXTURE_TEST_CASE(run_feeds_stdin_from_a_buffer_larger_than_the_socket_buffer,
                        reaper_fixture) {
  collected c;
  run_options how;
  how.input.assign(3 << 20, 'x');
  for (std::size_t i = 0; i < how.input.size(); i += 4096)
    how.input[i] = static_cast<char>('a' + (i / 4096) % 26);
  how.max_output = 4 << 20;
  const std::string expected = how.input;
  r.run(shell("exec cat"), std::move(how), c.cb());
  BOOST_REQUIRE(run_until([&] { return c.calls == 1; }));
  BOOST_TEST(c.last.status.success());
  BOOST_TEST(c.last.out.size() == expected.size());
  BOOST_TEST((c.last.out == expected));
  BOOST_TEST(!c.last.input_error);
}

BOOST_FIXTURE_TEST_CASE(run_keeps_max_output_and_drains_the_rest, reaper_fixture) {
  collected c;
  run_options how;
  how.max_output = 1000;
  r.run(shell("head -c 5000000 /dev/zero; head -c 10 /dev/zero >&2"), std::move(how), c.cb());
  BOOST_REQUIRE(run_until([&] { return c.calls == 1; }));
  BOOST_TEST(c.last.status.success());  // never blocked on a full pipe
  BOOST_TEST(c.last.out.size() == 1000u);
  BOOST_TEST(c.last.out_truncated);
  BOOST_TEST(c.last.err.size() == 10u);
  BOOST_TEST(!c.last.err_truncated);
}

BOOST_FIXTURE_TEST_CASE(input_the_child_never_reads_is_epipe_not_sigpipe, reaper_fixture) {
  collected c;
  run_options how;
  how.input.assign(8 << 20, 'x');  // far more than a socket buffer holds
  r.run(shell("exit 0"), std::move(how), c.cb());
  BOOST_REQUIRE(run_until([&] { return c.calls == 1; }));
  // This process is still here (SIGPIPE is at its default here: it would have ended it).
  BOOST_TEST(c.last.status.success());
  BOOST_TEST(c.last.input_error == std::errc::broken_pipe);
}

BOOST_FIXTURE_TEST_CASE(a_time_limit_ends_a_run_whose_grandchild_holds_stdout,
                        reaper_fixture, *boost::unit_test::precondition(cgroups_usable)) {
  const std::string token = new_token();
  auto o = shell("echo started; sh -c 'trap \"\" TERM; exec sleep 1000' & exec sleep 1000");
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin", token};
  o.tree = tree::cgroup;
  o.time_limit = deadline{200ms, SIGTERM, 200ms, false};
  collected c;
  r.run(o, {}, c.cb());
  BOOST_REQUIRE(run_until([&] { return c.calls == 1; }));
  BOOST_TEST(c.last.status.deadline_fired());
  BOOST_TEST(c.last.out == "started\n");
  BOOST_TEST(!c.last.output_cut);  // the grandchild went with the tree
  BOOST_TEST(c.last.status.tree_info().descendants_at_exit >= 1);  // it ignored SIGTERM
  expect_none_left(token);
}

BOOST_FIXTURE_TEST_CASE(output_held_by_a_process_that_left_a_group_is_cut, reaper_fixture) {
  const std::string token = new_token();
  // The daemon says on fd 3 when it has its own session (the group's SIGKILL comes only
  // once the loop runs, after that).
  pipe_pair ready;
  auto o = shell("setsid sh -c 'echo -n r >&3; exec sleep 1000' & echo done");
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin", token};
  o.tree = tree::process_group;
  o.stdio_map = {stdio::inherit(), stdio::inherit(), stdio::inherit(), stdio::from_fd(ready.wr)};
  run_options how;
  how.drain_after_exit = 100ms;
  collected c;
  r.run(o, std::move(how), c.cb());
  ready.close_write();
  read_bytes(ready.rd, 1);
  BOOST_REQUIRE(run_until([&] { return c.calls == 1; }));
  BOOST_TEST(c.last.status.success());
  BOOST_TEST(c.last.out == "done\n");
  BOOST_TEST(c.last.output_cut);
  expect_none_left(token, 1);  // the daemon escaped the group, as documented
}

BOOST_FIXTURE_TEST_CASE(close_drops_a_run_without_its_callback, loop_fixture) {
  const int fds_before = fds_with_streams(&loop);
  {
    reaper r{&loop, test_options()};
    collected c;
    run_options how;
    how.input = "never read";
    r.run(shell("exec sleep 1000"), std::move(how), c.cb());
    bool closed = false;
    r.close(close_options::kill_children(100ms), [&] { closed = true; });
    BOOST_REQUIRE(run_until([&] { return closed; }));
    BOOST_TEST(c.calls == 0);
  }
  BOOST_REQUIRE(run_to_completion());
  BOOST_TEST(open_fd_count() == fds_before);
}

BOOST_FIXTURE_TEST_CASE(a_run_that_cannot_start_calls_nothing_and_leaks_nothing,
                        reaper_fixture) {
  const int fds_before = fds_with_streams(&loop);
  collected c;
  std::error_code ec;
  spawn_options o;
  o.argv = {"/nonexistent/program"};
  run_options how;
  how.input = "x";
  BOOST_TEST(r.run(o, std::move(how), c.cb(), ec) == -1);
  BOOST_TEST(ec == std::errc::no_such_file_or_directory);
  BOOST_TEST(r.run(shell("exit 0"), {}, {}, ec) == -1);
  BOOST_TEST(ec == std::errc::invalid_argument);
  std::thread t([&] { r.run(shell("exit 0"), {}, c.cb(), ec); });
  t.join();
  BOOST_TEST(ec == std::errc::invalid_argument);  // loop thread only
  run_for(50ms);
  BOOST_TEST(c.calls == 0);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds_before);
}

BOOST_AUTO_TEST_SUITE_END()
