// SPDX-License-Identifier: MIT
// uvreap tests: the spawn path's fault matrix, through the OS seam — clone and posix_spawn
// errors, stdio set-up, each step of the child — and what the engine falls back to.
#include "uvreap/testing/sys.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <ostream>
#include <string>
#include <vector>

#include "scripted_os.hpp"
#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace {

// posix_spawn's errors (fork/clone and execve): returned, no child, no callback.
const std::vector<int> spawn_errnos = {E2BIG,  EACCES,       EAGAIN, EINVAL, ELOOP,
                                       EMFILE, ENAMETOOLONG, ENFILE, ENOENT, ENOEXEC,
                                       ENOMEM, ENOTDIR,      EPERM,  ETXTBSY};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(spawn_seam_suite, seam_fixture)

BOOST_DATA_TEST_CASE_F(seam_fixture, every_spawn_errno_is_returned_with_no_child,
                       boost::unit_test::data::make(spawn_errnos), err) {
  reaper r{&loop, opts()};
  os.fail_next(k::k_spawn, err);
  int calls = 0;
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 helper_options({"exit", "0"}), [&](const exit_status&) { ++calls; }, ec) == -1);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(r.size() == 0u);
  run_to_completion();
  BOOST_TEST(calls == 0);
  BOOST_TEST(children_census().empty());
}

BOOST_DATA_TEST_CASE_F(seam_fixture, an_fd_check_or_copy_failure_in_spawn_is_returned_with_no_child,
                       boost::unit_test::data::make({0, 1, 2, 3}), which) {
  // stdin from the parent's fd 1: checked (F_GETFD), then copied above 2 (F_DUPFD_CLOEXEC)
  // so that the child's dup2 onto 1 cannot clobber it.
  reaper r{&loop, opts()};
  const int fds = open_fd_count();
  const fault f = std::array<fault, 4>{fault{k::k_fd_flags, EBADF}, fault{k::k_dup, EMFILE},
                                       fault{k::k_dup, EINVAL}, fault{k::k_dup, EBADF}}[which];
  os.fail_next(f.call, f.err);
  auto o = helper_options({"exit", "0"});
  o.stdio_map[0] = stdio::from_fd(1);
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == (f.call == k::k_fd_flags ? EBADF : f.err));
  BOOST_TEST(os.calls[k::k_spawn] == 0);  // refused before any child existed
  BOOST_TEST(open_fd_count() == fds);
  BOOST_TEST(r.size() == 0u);
}

BOOST_AUTO_TEST_CASE(spawn_closes_its_copies_of_stdio_sources_through_the_seam) {
  reaper r{&loop, opts()};
  const int fds = open_fd_count();
  auto o = helper_options({"exit", "6"});
  o.stdio_map[0] = stdio::from_fd(1);  // copied above 2 for the child, then closed
  std::vector<exit_status> got;
  const int closes = os.calls[k::k_close];
  r.spawn(o, [&](const exit_status& s) { got.push_back(s); });
  BOOST_TEST(os.calls[k::k_dup] == 1);
  BOOST_TEST(os.calls[k::k_close] - closes == 1);
  BOOST_TEST(open_fd_count() == fds);
  run_until([&] { return !got.empty(); });
  BOOST_TEST(got.at(0).code() == 6);
}

// --- the spawn engine: clone, the child's steps, the pipes ------------------------

namespace {

// Options that take the child through every step the engine has, as the user we are
// (so that each step succeeds unless a fault is injected), with a pipe on stdout.
spawn_options every_step(uv_pipe_t* out) {
  auto o = helper_options({"exit", "9"});
  o.stdio_map[1] = stdio::pipe(out, stdio::flow::from_child);
  o.new_session = true;
  o.uid = ::getuid();
  o.gid = ::getgid();
  o.groups = std::vector<gid_t>{};  // given (cleared): its failure is never forgiven
  rlimit core{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_CORE, &core) == 0);
  o.rlimits.push_back({RLIMIT_CORE, core.rlim_cur, core.rlim_max});
  o.umask = 022;
  o.parent_death_signal = SIGKILL;
  o.cwd = "/";
  return o;
}

struct child_fault_case {
  detail::child_step step;
  int err;
};
std::ostream& operator<<(std::ostream& os, const child_fault_case& c) {
  return os << static_cast<int>(c.step) << "/" << std::strerror(c.err);
}

const std::vector<child_fault_case> child_faults = {
    {detail::child_step::close_range, EINVAL}, {detail::child_step::session, EPERM},
    {detail::child_step::fds, EMFILE},         {detail::child_step::fds, EBADF},
    {detail::child_step::rlimits, EINVAL},     {detail::child_step::rlimits, EPERM},
    {detail::child_step::groups, EPERM},       {detail::child_step::gid, EPERM},
    {detail::child_step::gid, EINVAL},         {detail::child_step::uid, EPERM},
    {detail::child_step::uid, EAGAIN},         {detail::child_step::pdeathsig, EINVAL},
    {detail::child_step::chdir, ENOENT},       {detail::child_step::chdir, EACCES},
    {detail::child_step::exec, ENOEXEC},       {detail::child_step::exec, E2BIG},
};

}  // namespace

namespace {

// After a spawn whose child failed a step: no child registered or alive, no fd more than
// `fds`, and the pipe handle `out` left unopened (then closed, and the loop run out).
void expect_nothing_left(seam_fixture& f, reaper& r, uv_pipe_t& out, int fds) {
  BOOST_TEST(r.size() == 0u);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds);
  uv_os_fd_t fd = -1;
  BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&out), &fd) == UV_EBADF);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  f.run_to_completion();
}

}  // namespace

BOOST_DATA_TEST_CASE_F(seam_fixture, a_child_step_that_fails_is_the_callers_error,
                       boost::unit_test::data::make(child_faults), f) {
  // The real child runs every step before the failing one, then reports it: the error
  // comes back from spawn, no child is left (reaped inside), no fd of the pipe leaks,
  // and the pipe handle is left as given.
  reaper r{&loop, opts()};
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  const int fds = open_fd_count();
  os.child_fault = {f.step, f.err};
  std::error_code ec;
  int calls = 0;
  BOOST_TEST(r.spawn(
                 every_step(&out), [&](const exit_status&) { ++calls; }, ec) == -1);
  BOOST_TEST(ec.value() == f.err);
  expect_nothing_left(*this, r, out, fds);
  BOOST_TEST(calls == 0);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, an_async_start_that_fails_after_the_clone_reports_once,
                       boost::unit_test::data::make(child_faults), f) {
  // spawn_async: the same failed step of a real child, on the starter's thread. Its error
  // reaches on_started once, on the loop thread; no child, no fd, the pipe unopened.
  reaper r{&loop, opts()};
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  const int fds = open_fd_count();
  os.child_fault = {f.step, f.err};
  int started = 0;
  int exits = 0;
  pid_t got_pid = 0;
  std::error_code got;
  std::error_code ec;
  r.spawn_async(
      every_step(&out),
      [&](pid_t pid, std::error_code e) {
        ++started;
        got_pid = pid;
        got = e;
      },
      [&](const exit_status&) { ++exits; }, ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(run_until([&] { return started > 0; }));
  run_for(std::chrono::milliseconds{20});
  BOOST_TEST(started == 1);
  BOOST_TEST(exits == 0);
  BOOST_TEST(got_pid == -1);
  BOOST_TEST(got.value() == f.err);
  expect_nothing_left(*this, r, out, fds);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, an_async_clone_error_reaches_on_started,
                       boost::unit_test::data::make({EAGAIN, ENOMEM, EPERM}), err) {
  reaper r{&loop, opts()};
  os.fail_next(k::k_spawn, err);
  int started = 0;
  std::error_code got;
  r.spawn_async(
      helper_options({"exit", "0"}),
      [&](pid_t pid, std::error_code e) {
        ++started;
        got = e;
        BOOST_TEST(pid == -1);
      },
      [](const exit_status&) { BOOST_ERROR("no exit for a child that never started"); });
  BOOST_REQUIRE(run_until([&] { return started > 0; }));
  BOOST_TEST(got.value() == err);
  BOOST_TEST(r.size() == 0u);
  run_to_completion();
}

BOOST_AUTO_TEST_CASE(every_step_runs_for_real_when_none_fails) {
  reaper r{&loop, opts()};
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  std::vector<exit_status> got;
  const pid_t pid = r.spawn(every_step(&out), [&](const exit_status& s) { got.push_back(s); });
  BOOST_REQUIRE(pid > 0);
  BOOST_REQUIRE(run_until([&] { return !got.empty(); }));
  BOOST_TEST(got[0].code() == 9);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  run_to_completion();
}

BOOST_AUTO_TEST_CASE(a_kernel_without_the_engine_falls_back_to_posix_spawn) {
  // clone refusing its flags, and close_range missing in the child: both ENOSYS, both
  // end in posix_spawn, with the same child and the same fds.
  for (const bool in_child : {false, true}) {
    reaper r{&loop, opts()};
    os.calls = {};
    if (in_child) {
      os.child_fault = {detail::child_step::close_range, ENOSYS};
    } else {
      os.fail_next(k::k_spawn, ENOSYS);
    }
    std::vector<exit_status> got;
    auto o = helper_options({"fds"});
    o.stdio_map.push_back(stdio::null());  // fd 3 in the child: one open fd above 2
    const pid_t pid = r.spawn(o, [&](const exit_status& s) { got.push_back(s); });
    BOOST_REQUIRE(pid > 0);
    BOOST_REQUIRE(run_until([&] { return !got.empty(); }));
    BOOST_TEST(got[0].code() == 1);
    BOOST_TEST(os.calls[k::k_spawn] == 1);
    BOOST_TEST(os.calls[k::k_posix_spawn] == 1);
    BOOST_TEST(children_census().empty());
    os.child_fault = {detail::child_step::none, 0};
  }
}

BOOST_AUTO_TEST_CASE(without_the_engine_what_posix_spawn_cannot_do_is_enosys) {
  reaper r{&loop, opts()};
  const int fds = open_fd_count();
  os.fail_next(k::k_spawn, ENOSYS);
  auto o = helper_options({"exit", "0"});
  o.parent_death_signal = SIGTERM;
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == ENOSYS);
  BOOST_TEST(os.calls[k::k_posix_spawn] == 0);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds);
}

BOOST_DATA_TEST_CASE_F(seam_fixture, clone_errors_are_returned_with_nothing_left,
                       boost::unit_test::data::make({EAGAIN, ENOMEM, EPERM, EINVAL}), err) {
  reaper r{&loop, opts()};
  uv_pipe_t in;
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  const int fds = open_fd_count();
  os.fail_next(k::k_spawn, err);
  auto o = helper_options({"exit", "0"});
  o.stdio_map[0] = stdio::pipe(&in, stdio::flow::to_child);
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(os.calls[k::k_posix_spawn] == 0);
  BOOST_TEST(open_fd_count() == fds);
  BOOST_TEST(r.size() == 0u);
  uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);
  run_to_completion();
}

BOOST_DATA_TEST_CASE_F(seam_fixture, pipe_and_socketpair_errors_leave_no_fd_and_no_child,
                       boost::unit_test::data::make({0, 1, 2, 3}), which) {
  // The second pipe fails: the first one's fds are closed too.
  reaper r{&loop, opts()};
  uv_pipe_t a;
  uv_pipe_t b;
  BOOST_REQUIRE(uv_pipe_init(&loop, &a, 0) == 0);
  BOOST_REQUIRE(uv_pipe_init(&loop, &b, 0) == 0);
  const int fds = open_fd_count();
  const bool duplex = which >= 2;
  const int err = which % 2 == 0 ? EMFILE : ENFILE;
  auto o = helper_options({"exit", "0"});
  o.stdio_map[1] = stdio::pipe(&a, stdio::flow::from_child);
  o.stdio_map[2] = stdio::pipe(&b, duplex ? stdio::flow::both : stdio::flow::from_child);
  if (duplex) {
    os.fail_next(k::k_socketpair, err);
  } else {
    os.pass_next(k::k_pipe);  // the first pipe is made
    os.fail_next(k::k_pipe, err);
  }
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == err);
  BOOST_TEST(os.calls[k::k_spawn] == 0);
  BOOST_TEST(open_fd_count() == fds);
  for (uv_pipe_t* p : {&a, &b}) {
    uv_os_fd_t fd = -1;
    BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(p), &fd) == UV_EBADF);
    uv_close(reinterpret_cast<uv_handle_t*>(p), nullptr);
  }
  run_to_completion();
}

BOOST_AUTO_TEST_SUITE_END()
