// SPDX-License-Identifier: MIT
// uvreap tests: reaper::spawn — options, the child's starting state, and every error.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
namespace fs = std::filesystem;

namespace {

// Spawns one child, runs the loop until its callback, returns its status.
std::optional<exit_status> run_one(loop_fixture& f, reaper& r, const spawn_options& o) {
  std::optional<exit_status> got;
  std::error_code ec;
  r.spawn(
      o, [&](const exit_status& s) { got = s; }, ec);
  BOOST_REQUIRE_MESSAGE(!ec, "spawn failed: " << ec.message());
  f.run_until([&] { return got.has_value(); });
  return got;
}

int exit_code_of(loop_fixture& f, reaper& r, const spawn_options& o) {
  const auto s = run_one(f, r, o);
  BOOST_REQUIRE(s.has_value());
  BOOST_REQUIRE_MESSAGE(s->exited(), to_string(*s));
  return s->code();
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/uvreap-test-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Expects spawn to fail with `want`, leave no child, and never call back.
void expect_spawn_error(loop_fixture& f, reaper& r, const spawn_options& o, std::errc want) {
  int calls = 0;
  std::error_code ec;
  const pid_t pid = r.spawn(
      o, [&](const exit_status&) { ++calls; }, ec);
  BOOST_TEST(pid == -1);
  BOOST_TEST(ec == want, "got '" << ec.message() << "'");
  BOOST_TEST(r.size() == 0u);
  f.run_to_completion();
  BOOST_TEST(calls == 0);
  BOOST_TEST(children_census().empty());
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(spawn_suite, loop_fixture)

BOOST_FIXTURE_TEST_CASE(every_exit_code_0_to_255_reaches_its_own_callback, reaper_fixture) {
  std::map<pid_t, int> expected;
  std::map<pid_t, int> got;
  for (int code = 0; code < 256; ++code) {
    const pid_t pid =
        r.spawn(helper_options({"exit", std::to_string(code)}), [&](const exit_status& s) {
          BOOST_TEST(s.exited());
          ++got[s.pid()];
          BOOST_TEST(s.code() == expected[s.pid()]);
        });
    expected[pid] = code;
  }
  BOOST_TEST(r.size() == 256u);
  run_until([&] { return got.size() == 256u; });
  for (const auto& [pid, n] : got)
    BOOST_TEST(n == 1);
  BOOST_TEST(r.size() == 0u);
  BOOST_TEST(r.stats().exits_reaped == 256u);
}

BOOST_FIXTURE_TEST_CASE(a_child_killed_by_a_signal_reports_the_signal_and_no_code, reaper_fixture) {
  const auto s = run_one(*this, r, helper_options({"signal", std::to_string(SIGKILL)}));
  BOOST_REQUIRE(s);
  BOOST_TEST(s->signaled());
  BOOST_TEST(s->signal() == SIGKILL);
  BOOST_TEST(s->code() == 0);
  BOOST_TEST(!s->core_dumped());
  const auto t = run_one(*this, r, helper_options({"signal", std::to_string(SIGSEGV)}));
  BOOST_REQUIRE(t);
  BOOST_TEST(t->signal() == SIGSEGV);
  BOOST_TEST(!t->core_dumped());  // RLIMIT_CORE is 0 in this mode
}

boost::test_tools::assertion_result core_pattern_writes_into_the_cwd(
    boost::unit_test::test_unit_id) {
  std::ifstream pattern("/proc/sys/kernel/core_pattern");
  std::string p;
  std::getline(pattern, p);
  boost::test_tools::assertion_result r(!p.empty() && p[0] != '|' && p[0] != '/');
  r.message() << "core_pattern '" << p << "' does not write into the cwd";
  return r;
}

BOOST_AUTO_TEST_CASE(a_core_dump_is_reported_with_its_signal,
                     *precondition(core_pattern_writes_into_the_cwd)) {
  temp_dir dir;
  reaper r{&loop, test_options()};
  const auto s =
      run_one(*this, r, helper_options({"signal", std::to_string(SIGABRT), "core", dir.path}));
  BOOST_REQUIRE(s);
  BOOST_TEST(s->signaled());
  BOOST_TEST(s->signal() == SIGABRT);
  BOOST_TEST(s->core_dumped());
}

BOOST_FIXTURE_TEST_CASE(resource_usage_of_the_child_is_reported, reaper_fixture) {
  const auto s = run_one(*this, r, helper_options({"exit", "0"}));
  BOOST_REQUIRE(s);
  // Every exec'd process has touched some memory; the kernel reports it in KiB.
  BOOST_TEST(s->usage().max_rss_kib > 0);
}

BOOST_FIXTURE_TEST_CASE(the_environment_is_inherited_or_replaced, reaper_fixture) {
  ::setenv("UVREAP_INHERITED", "yes", 1);
  BOOST_TEST(exit_code_of(*this, r, helper_options({"env-eq", "UVREAP_INHERITED", "yes"})) == 0);
  ::unsetenv("UVREAP_INHERITED");

  auto o = helper_options({"env-eq", "UVREAP_GIVEN", "v=1"});
  o.env = std::vector<std::string>{"UVREAP_GIVEN=v=1", "OTHER=2"};
  BOOST_TEST(exit_code_of(*this, r, o) == 0);
  o.argv = helper({"env-count"});
  BOOST_TEST(exit_code_of(*this, r, o) == 2);
}

BOOST_AUTO_TEST_CASE(the_working_directory_is_set) {
  temp_dir dir;
  reaper r{&loop, test_options()};
  auto o = helper_options({"cwd", dir.path.string()});
  o.cwd = dir.path.string();
  BOOST_TEST(exit_code_of(*this, r, o) == 0);
}

BOOST_FIXTURE_TEST_CASE(stdio_can_be_dev_null_or_a_given_fd, reaper_fixture) {
  auto o = helper_options({"stdin-eof"});
  o.stdio_map[0] = stdio::null();
  BOOST_TEST(exit_code_of(*this, r, o) == 0);

  int p[2];
  BOOST_REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  o = helper_options({"write", "hello"});
  o.stdio_map[1] = stdio::from_fd(p[1]);
  BOOST_TEST(exit_code_of(*this, r, o) == 0);
  ::close(p[1]);
  char buf[16] = {};
  BOOST_TEST(::read(p[0], buf, sizeof buf) == 5);
  BOOST_TEST(std::string(buf) == "hello");
  ::close(p[0]);
}

BOOST_AUTO_TEST_CASE(stdio_fds_below_3_can_be_swapped) {
  // stdout <- the parent's fd 2 while stdin <- the parent's fd 1: a naive dup2 order
  // would clobber one with the other.
  reaper r{&loop, test_options()};
  int p[2];
  BOOST_REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  const int saved = ::dup(2);
  BOOST_REQUIRE(::dup2(p[1], 2) == 2);
  auto o = helper_options({"write", "swapped"});
  o.stdio_map[0] = stdio::from_fd(1);
  o.stdio_map[1] = stdio::from_fd(2);
  const int code = exit_code_of(*this, r, o);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(p[1]);
  BOOST_TEST(code == 0);
  char buf[16] = {};
  BOOST_TEST(::read(p[0], buf, sizeof buf) == 7);
  BOOST_TEST(std::string(buf) == "swapped");
  ::close(p[0]);
}

BOOST_FIXTURE_TEST_CASE(no_fd_above_2_leaks_into_the_child_even_without_cloexec, reaper_fixture) {
  const int leaky = ::open("/dev/null", O_RDONLY);  // deliberately not O_CLOEXEC
  BOOST_REQUIRE(leaky > 2);
  int p[2];
  BOOST_REQUIRE(::pipe(p) == 0);
  BOOST_TEST(exit_code_of(*this, r, helper_options({"fds"})) == 0);
  ::close(leaky);
  ::close(p[0]);
  ::close(p[1]);
}

BOOST_FIXTURE_TEST_CASE(the_child_starts_with_no_blocked_and_no_ignored_signals, reaper_fixture) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  BOOST_REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &old) == 0);
  struct sigaction ign {
  }, old_pipe{}, old_hup{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old_pipe);
  ::sigaction(SIGHUP, &ign, &old_hup);

  const int code = exit_code_of(*this, r, helper_options({"sigstate"}));

  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  BOOST_TEST(code == 0, "1 = a signal blocked, 2 = a signal ignored; got " << code);
}

BOOST_FIXTURE_TEST_CASE(a_new_session_or_process_group_is_created_on_request, reaper_fixture) {
  auto o = helper_options({"sid"});
  o.new_session = true;
  BOOST_TEST(exit_code_of(*this, r, o) == 0);
  o = helper_options({"pgid"});
  o.new_process_group = true;
  BOOST_TEST(exit_code_of(*this, r, o) == 0);
  o = helper_options({"pgid"});
  BOOST_TEST(exit_code_of(*this, r, o) == 1);  // by default it stays in ours
}

BOOST_FIXTURE_TEST_CASE(the_program_is_searched_in_path_when_it_has_no_slash, reaper_fixture) {
  spawn_options o;
  o.argv = {"sh", "-c", "exit 7"};
  BOOST_TEST(exit_code_of(*this, r, o) == 7);
  o.file = "/bin/sh";
  o.argv = {"not-the-program-name", "-c", "exit 8"};
  BOOST_TEST(exit_code_of(*this, r, o) == 8);
}

BOOST_FIXTURE_TEST_CASE(a_missing_program_fails_with_enoent_and_leaves_no_zombie, reaper_fixture) {
  spawn_options o;
  o.argv = {"/nonexistent/uvreap-no-such-program"};
  expect_spawn_error(*this, r, o, std::errc::no_such_file_or_directory);
  o.argv = {"uvreap-no-such-program-in-path"};
  expect_spawn_error(*this, r, o, std::errc::no_such_file_or_directory);
}

BOOST_AUTO_TEST_CASE(a_non_executable_file_fails_with_eacces) {
  temp_dir dir;
  const auto file = dir.path / "data.txt";
  std::ofstream(file) << "just data\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  reaper r{&loop, test_options()};
  spawn_options o;
  o.argv = {file.string()};
  expect_spawn_error(*this, r, o, std::errc::permission_denied);
}

BOOST_AUTO_TEST_CASE(an_executable_in_no_known_format_fails_with_enoexec) {
  temp_dir dir;
  const auto file = dir.path / "garbage";
  std::ofstream(file) << "\x01\x02\x03 not a program\n";
  fs::permissions(file, fs::perms::owner_all);
  reaper r{&loop, test_options()};
  spawn_options o;
  o.argv = {file.string()};
  expect_spawn_error(*this, r, o, std::errc::executable_format_error);
}

BOOST_FIXTURE_TEST_CASE(a_missing_working_directory_fails_with_enoent, reaper_fixture) {
  auto o = helper_options({"exit", "0"});
  o.cwd = "/nonexistent/uvreap-dir";
  expect_spawn_error(*this, r, o, std::errc::no_such_file_or_directory);
}

BOOST_FIXTURE_TEST_CASE(invalid_options_are_rejected_before_any_child_exists, reaper_fixture) {
  spawn_options o;
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);  // empty argv
  o.argv = {""};
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);  // empty program
  o.argv = {"/bin/true", std::string("a\0b", 3)};
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);  // NUL in argv
  o.argv = {"/bin/true"};
  o.env = std::vector<std::string>{"NOEQUALS"};
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);
  o.env = std::vector<std::string>{"=value"};
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);
  o.env.reset();
  o.cwd = std::string("/t\0mp", 5);
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);
  o.cwd.clear();
  o.new_session = o.new_process_group = true;
  expect_spawn_error(*this, r, o, std::errc::invalid_argument);
  o.new_session = o.new_process_group = false;
  o.stdio_map[1] = stdio::from_fd(-1);
  expect_spawn_error(*this, r, o, std::errc::bad_file_descriptor);
  o.stdio_map[1] = stdio::from_fd(987);  // not open
  expect_spawn_error(*this, r, o, std::errc::bad_file_descriptor);
}

BOOST_FIXTURE_TEST_CASE(an_empty_callback_is_rejected, reaper_fixture) {
  std::error_code ec;
  BOOST_TEST(r.spawn(helper_options({"exit", "0"}), exit_callback{}, ec) == -1);
  BOOST_TEST(ec == std::errc::invalid_argument);
  BOOST_TEST(children_census().empty());
}

BOOST_FIXTURE_TEST_CASE(the_throwing_form_carries_the_errno, reaper_fixture) {
  spawn_options o;
  o.argv = {"/nonexistent/uvreap-no-such-program"};
  try {
    r.spawn(o, [](const exit_status&) {});
    BOOST_FAIL("spawn did not throw");
  } catch (const std::system_error& e) {
    BOOST_TEST(e.code() == std::errc::no_such_file_or_directory);
  }
}

BOOST_AUTO_TEST_SUITE_END()
