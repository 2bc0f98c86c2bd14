// SPDX-License-Identifier: MIT
// uvreap tests: decoding of wait statuses into exit records.
#include "uvreap/exit_status.hpp"
#include "exit_status_builder.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <csignal>

#include "support.hpp"

using uvreap::exit_kind;
using uvreap::exit_status;

BOOST_AUTO_TEST_SUITE(exit_status_suite)

BOOST_AUTO_TEST_CASE(every_real_exit_code_decodes_as_exited_with_that_code) {
  for (int code = 0; code < 256; ++code) {
    BOOST_TEST_CONTEXT("exit code " << code) {
      const pid_t pid = uvreap::test::fork_exiting(code);
      int raw = 0;
      rusage ru{};
      BOOST_REQUIRE_EQUAL(::wait4(pid, &raw, 0, &ru), pid);
      const auto s = exit_status::from_wait(pid, raw, &ru);
      BOOST_TEST(s.pid() == pid);
      BOOST_TEST(s.exited());
      BOOST_TEST(!s.signaled());
      BOOST_TEST(!s.lost());
      BOOST_TEST(s.code() == code);
      BOOST_TEST(s.signal() == 0);
      BOOST_TEST(s.success() == (code == 0));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_real_kill_decodes_as_signaled_never_as_an_exit_code) {
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::raise(SIGKILL);
    ::_exit(1);
  }
  int raw = 0;
  BOOST_REQUIRE_EQUAL(::waitpid(pid, &raw, 0), pid);
  const auto s = exit_status::from_wait(pid, raw, nullptr);
  BOOST_TEST(s.signaled());
  BOOST_TEST(!s.exited());
  BOOST_TEST(s.signal() == SIGKILL);
  BOOST_TEST(s.code() == 0);
  BOOST_TEST(!s.core_dumped());
  BOOST_TEST(!s.success());
}

BOOST_AUTO_TEST_CASE(the_core_flag_is_read_from_the_raw_status) {
  const auto s = exit_status::from_wait(42, SIGSEGV | 0x80, nullptr);
  BOOST_TEST(s.signaled());
  BOOST_TEST(s.signal() == SIGSEGV);
  BOOST_TEST(s.core_dumped());
  const auto t = uvreap::detail::exit_status_builder::signaled(42, SIGABRT, true);
  BOOST_TEST(WIFSIGNALED(t.raw_status()));
  BOOST_TEST(WCOREDUMP(t.raw_status()));
  BOOST_TEST(WTERMSIG(t.raw_status()) == SIGABRT);
}

BOOST_AUTO_TEST_CASE(resource_usage_is_copied_from_rusage) {
  rusage ru{};
  ru.ru_utime = {2, 500};
  ru.ru_stime = {0, 7};
  ru.ru_maxrss = 1234;
  const auto s = exit_status::from_wait(7, 0, &ru);
  BOOST_TEST(s.usage().user_cpu.count() == 2'000'500);
  BOOST_TEST(s.usage().system_cpu.count() == 7);
  BOOST_TEST(s.usage().max_rss_kib == 1234);
}

BOOST_AUTO_TEST_CASE(a_stopped_status_is_not_mistaken_for_an_exit) {
  const int stopped = (SIGSTOP << 8) | 0x7f;  // what WIFSTOPPED recognises
  BOOST_REQUIRE(WIFSTOPPED(stopped));
  const auto s = exit_status::from_wait(9, stopped, nullptr);
  BOOST_TEST(!s.exited());
  BOOST_TEST(!s.signaled());
  BOOST_TEST(s.kind() == exit_kind::lost);
}

BOOST_AUTO_TEST_CASE(made_records_round_trip_through_the_raw_status) {
  const auto e = uvreap::detail::exit_status_builder::exited(5, 300);
  BOOST_TEST(e.code() == (300 & 0xff));
  BOOST_TEST(WIFEXITED(e.raw_status()));
  BOOST_TEST(WEXITSTATUS(e.raw_status()) == e.code());
  const auto l = uvreap::detail::exit_status_builder::lost(6);
  BOOST_TEST(l.lost());
  BOOST_TEST(l.pid() == 6);
  BOOST_TEST(l.code() == 0);
  BOOST_TEST(l.signal() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
