// SPDX-License-Identifier: MIT
// uvreap tests: spawn_plan's fd plan on its own, with no child — which source each of the
// child's fds comes from, what is copied out of the targets' way, what each step costs in
// syscalls, and that nothing is left open whatever fails.
#include "spawn_plan.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <set>
#include <vector>

#include "scripted_os.hpp"
#include "support.hpp"

using namespace uvreap;
using namespace uvreap::test;
using uvreap::detail::fd_move;

namespace {

struct plan_fixture : loop_fixture {
  scripted_os os;
  uvreap::stats::syscall_counts counts{};
  detail::os_calls calls{os, counts};
  int fds_before = -1;

  // The count once libuv has opened what it opens lazily: the first stream of a loop
  // reserves an fd (/dev/null) for its EMFILE trick.
  plan_fixture() {
    uv_pipe_t first{};
    BOOST_REQUIRE(uv_pipe_init(&loop, &first, 0) == 0);
    uv_close(reinterpret_cast<uv_handle_t*>(&first), nullptr);
    run_to_completion();
    fds_before = open_fd_count();
  }

  static spawn_options with_stdio(std::vector<stdio> map) {
    spawn_options o;
    o.argv = {"/bin/true"};
    o.stdio_map = std::move(map);
    return o;
  }
  static std::vector<fd_move> moves(const detail::spawn_plan& p) {
    const auto& r = p.recipe();
    return {r.moves, r.moves + r.move_count};
  }
  // Both fds name the same open file.
  static bool same_file(int a, int b) {
    struct stat x {};
    struct stat y {};
    return ::fstat(a, &x) == 0 && ::fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
           x.st_ino == y.st_ino;
  }
  // What the plan holds open for the child is closed with it.
  void check_nothing_left_open() { BOOST_TEST(open_fd_count() == fds_before); }
};

// A socket pair whose ends the test closes.
struct socket_pair {
  int fd[2] = {-1, -1};
  socket_pair() { BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0); }
  ~socket_pair() { close_all(); }
  void close_all() {
    for (int& f : fd) {
      if (f >= 0) ::close(f);
      f = -1;
    }
  }
  socket_pair(const socket_pair&) = delete;
  socket_pair& operator=(const socket_pair&) = delete;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(spawn_plan_suite, plan_fixture)

BOOST_AUTO_TEST_CASE(fds_0_to_2_default_to_dev_null_with_no_syscall) {
  {
    detail::spawn_plan p;
    BOOST_REQUIRE(!p.prepare(with_stdio({}), calls));
    const auto m = moves(p);
    BOOST_REQUIRE(m.size() == 3u);
    for (int t = 0; t < 3; ++t) {
      BOOST_TEST(m[t].target == t);
      BOOST_TEST(m[t].source == fd_move::null);
    }
    BOOST_TEST(p.recipe().unshare_from == 3);
  }
  BOOST_TEST(counts.total() == 0u);
  check_nothing_left_open();
}

BOOST_AUTO_TEST_CASE(an_inherited_fd_keeps_its_number_and_a_gap_is_closed) {
  // fd 4 inherited whether or not the parent has it open (the child then has it closed:
  // the child's own step sees EBADF); 3 and 5 are gaps.
  detail::spawn_plan p;
  BOOST_REQUIRE(!p.prepare(with_stdio({stdio::inherit(), stdio::null(), stdio::inherit(),
                                       stdio::none(), stdio::inherit(), stdio::none()}),
                           calls));
  const auto m = moves(p);
  BOOST_REQUIRE(m.size() == 6u);
  BOOST_TEST(m[0].source == 0);
  BOOST_TEST(m[1].source == fd_move::null);
  BOOST_TEST(m[2].source == 2);
  BOOST_TEST(m[3].source == fd_move::closed);
  BOOST_TEST(m[4].source == 4);
  BOOST_TEST(m[5].source == fd_move::closed);
  // stdio is made blocking in the child; fds above 2 keep their flags.
  BOOST_TEST(m[0].blocking);
  BOOST_TEST(!m[1].blocking);
  BOOST_TEST(!m[4].blocking);
  BOOST_TEST(p.recipe().unshare_from == 6);
  BOOST_TEST(counts.total() == 0u);
}

BOOST_AUTO_TEST_CASE(swapped_fds_are_each_copied_above_the_targets) {
  {
    // The child's 1 is our 2 and its 2 is our 1: a dup2 in place would clobber one.
    detail::spawn_plan p;
    BOOST_REQUIRE(
        !p.prepare(with_stdio({stdio::null(), stdio::from_fd(2), stdio::from_fd(1)}), calls));
    const auto m = moves(p);
    BOOST_REQUIRE(m.size() == 3u);
    BOOST_TEST(m[1].source >= 3);
    BOOST_TEST(m[2].source >= 3);
    BOOST_TEST(m[1].source != m[2].source);
    BOOST_TEST(same_file(m[1].source, 2));
    BOOST_TEST(same_file(m[2].source, 1));
    BOOST_TEST((::fcntl(m[1].source, F_GETFD) & FD_CLOEXEC) != 0);
    BOOST_TEST(p.recipe().unshare_from == std::max(m[1].source, m[2].source) + 1);
    BOOST_TEST(os.calls[k::k_fd_flags] == 2);
    BOOST_TEST(os.calls[k::k_dup] == 2);
    BOOST_TEST(counts.fds == 4u);
  }
  // Both copies closed by the plan, and counted.
  BOOST_TEST(counts.close == 2u);
  check_nothing_left_open();
}

BOOST_AUTO_TEST_CASE(an_fd_given_for_its_own_number_is_not_copied) {
  detail::spawn_plan p;
  BOOST_REQUIRE(
      !p.prepare(with_stdio({stdio::null(), stdio::from_fd(1), stdio::inherit()}), calls));
  BOOST_TEST(moves(p)[1].source == 1);
  BOOST_TEST(os.calls[k::k_dup] == 0);
  BOOST_TEST(counts.fds == 1u);  // the F_GETFD check
}

BOOST_AUTO_TEST_CASE(a_low_fd_given_for_a_high_target_is_copied_above_every_target) {
  // Our 0 as the child's fd 9: 0 is itself a target, so it moves above 9.
  socket_pair s;
  detail::spawn_plan p;
  std::vector<stdio> map(10, stdio::none());
  map[9] = stdio::from_fd(0);
  map[8] = stdio::from_fd(s.fd[0]);
  BOOST_REQUIRE(!p.prepare(with_stdio(map), calls));
  const auto m = moves(p);
  BOOST_TEST(m[9].source >= 10);
  BOOST_TEST(same_file(m[9].source, 0));
  BOOST_TEST((m[8].source >= 10 || m[8].source == 8));
  BOOST_TEST(same_file(m[8].source, s.fd[0]));
  BOOST_TEST(p.recipe().unshare_from > std::max(m[8].source, m[9].source));
}

BOOST_AUTO_TEST_CASE(a_stream_is_passed_by_a_copy_of_its_fd) {
  socket_pair s;
  uv_pipe_t pipe{};
  BOOST_REQUIRE(uv_pipe_init(&loop, &pipe, 0) == 0);
  BOOST_REQUIRE(uv_pipe_open(&pipe, s.fd[0]) == 0);
  s.fd[0] = -1;  // the handle's now
  {
    detail::spawn_plan p;
    BOOST_REQUIRE(!p.prepare(with_stdio({stdio::from_stream(reinterpret_cast<uv_stream_t*>(&pipe)),
                                         stdio::null(), stdio::null()}),
                             calls));
    uv_os_fd_t fd = -1;
    BOOST_REQUIRE(uv_fileno(reinterpret_cast<uv_handle_t*>(&pipe), &fd) == 0);
    const auto m = moves(p);
    BOOST_TEST(m[0].source >= 3);
    BOOST_TEST(m[0].source != fd);
    BOOST_TEST(same_file(m[0].source, fd));
    BOOST_TEST(m[0].blocking);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
  BOOST_TEST(run_to_completion());
  s.close_all();
  check_nothing_left_open();
}

BOOST_AUTO_TEST_CASE(a_source_that_is_not_open_is_ebadf_with_nothing_left_open) {
  const int closed_fd = [] {
    int fds[2];
    BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ::close(fds[0]);
    ::close(fds[1]);
    return fds[0];
  }();
  for (const stdio& bad : {stdio::from_fd(closed_fd), stdio::from_fd(-1)}) {
    detail::spawn_plan p;
    BOOST_TEST(p.prepare(with_stdio({stdio::null(), bad}), calls).value() == EBADF);
  }
  uv_pipe_t unopened{};
  BOOST_REQUIRE(uv_pipe_init(&loop, &unopened, 0) == 0);
  {
    detail::spawn_plan p;
    BOOST_TEST(
        p.prepare(with_stdio({stdio::from_stream(reinterpret_cast<uv_stream_t*>(&unopened))}),
                  calls)
            .value() == EBADF);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&unopened), nullptr);
  BOOST_TEST(run_to_completion());
  check_nothing_left_open();
}

BOOST_AUTO_TEST_CASE(a_pipe_gives_the_child_its_end_and_the_handle_the_other) {
  uv_pipe_t out{};
  uv_pipe_t in{};
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  {
    detail::spawn_plan p;
    BOOST_REQUIRE(
        !p.prepare(with_stdio({stdio::pipe(&in, stdio::flow::to_child),
                               stdio::pipe(&out, stdio::flow::from_child), stdio::null()}),
                   calls));
    const auto m = moves(p);
    // Made for this child and above the targets already: no copy.
    BOOST_TEST(m[0].source >= 3);
    BOOST_TEST(m[1].source >= 3);
    BOOST_TEST(os.calls[k::k_pipe] == 2);
    BOOST_TEST(os.calls[k::k_dup] == 0);
    BOOST_TEST((::fcntl(m[0].source, F_GETFL) & O_ACCMODE) == O_RDONLY);
    BOOST_TEST((::fcntl(m[1].source, F_GETFL) & O_ACCMODE) == O_WRONLY);
    const int child_in = m[0].source;
    BOOST_TEST(p.finish() == 0);
    // The child's ends are closed; each handle holds the parent's end.
    BOOST_TEST(::fcntl(child_in, F_GETFD) == -1);
    uv_os_fd_t fd = -1;
    BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&in), &fd) == 0);
    BOOST_TEST((::fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY);
    BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&out), &fd) == 0);
    BOOST_TEST((::fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
  }
  BOOST_TEST(counts.fds == 2u);
  BOOST_TEST(counts.close == 2u);
  uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  BOOST_TEST(run_to_completion());
  check_nothing_left_open();
}

BOOST_AUTO_TEST_CASE(a_failure_part_way_leaves_no_fd_and_no_handle_open) {
  // The second pipe fails after the first was made and an fd was copied.
  uv_pipe_t a{};
  uv_pipe_t b{};
  BOOST_REQUIRE(uv_pipe_init(&loop, &a, 0) == 0);
  BOOST_REQUIRE(uv_pipe_init(&loop, &b, 0) == 0);
  os.pass_next(k::k_pipe);
  os.fail_next(k::k_pipe, ENFILE);
  {
    detail::spawn_plan p;
    BOOST_TEST(p.prepare(with_stdio({stdio::from_fd(2), stdio::pipe(&a, stdio::flow::from_child),
                                     stdio::pipe(&b, stdio::flow::from_child)}),
                         calls)
                   .value() == ENFILE);
  }
  uv_os_fd_t fd = -1;
  BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&a), &fd) == UV_EBADF);
  BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&b), &fd) == UV_EBADF);
  // The copy of 2 and both ends of the first pipe.
  BOOST_TEST(counts.close == 3u);
  check_nothing_left_open();
  uv_close(reinterpret_cast<uv_handle_t*>(&a), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&b), nullptr);
  BOOST_TEST(run_to_completion());
}

BOOST_AUTO_TEST_CASE(a_failed_copy_returns_its_errno) {
  os.fail_next(k::k_dup, EMFILE);
  detail::spawn_plan p;
  BOOST_TEST(p.prepare(with_stdio({stdio::from_fd(1)}), calls).value() == EMFILE);
}

BOOST_AUTO_TEST_CASE(a_copy_interrupted_is_retried_and_counted) {
  os.fail_next(k::k_dup, EINTR);
  detail::spawn_plan p;
  BOOST_REQUIRE(!p.prepare(with_stdio({stdio::from_fd(1)}), calls));
  BOOST_TEST(moves(p)[0].source >= 3);
  BOOST_TEST(os.calls[k::k_dup] == 2);
  BOOST_TEST(counts.eintr == 1u);
}

BOOST_AUTO_TEST_CASE(a_pipe_handle_named_twice_or_not_fresh_is_einval) {
  uv_pipe_t p1{};
  BOOST_REQUIRE(uv_pipe_init(&loop, &p1, 0) == 0);
  {
    detail::spawn_plan p;
    BOOST_TEST(p.prepare(with_stdio({stdio::pipe(&p1, stdio::flow::to_child),
                                     stdio::pipe(&p1, stdio::flow::from_child)}),
                         calls)
                   .value() == EINVAL);
  }
  socket_pair s;
  BOOST_REQUIRE(uv_pipe_open(&p1, s.fd[0]) == 0);
  s.fd[0] = -1;
  {
    detail::spawn_plan p;
    BOOST_TEST(p.prepare(with_stdio({stdio::pipe(&p1, stdio::flow::to_child)}), calls).value() ==
               EINVAL);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&p1), nullptr);
  BOOST_TEST(run_to_completion());
  s.close_all();
  check_nothing_left_open();
}

BOOST_AUTO_TEST_CASE(a_thousand_and_twenty_four_fds_are_planned_and_one_more_is_einval) {
  {
    detail::spawn_plan p;
    BOOST_REQUIRE(!p.prepare(with_stdio(std::vector<stdio>(1024, stdio::inherit())), calls));
    const auto m = moves(p);
    BOOST_REQUIRE(m.size() == 1024u);
    BOOST_TEST(
        std::all_of(m.begin(), m.end(), [](const fd_move& x) { return x.source == x.target; }));
    BOOST_TEST(p.recipe().unshare_from == 1024);
  }
  {
    detail::spawn_plan p;
    BOOST_TEST(p.prepare(with_stdio(std::vector<stdio>(1025, stdio::inherit())), calls).value() ==
               EINVAL);
  }
  BOOST_TEST(counts.total() == 0u);
}

BOOST_AUTO_TEST_CASE(every_fd_of_a_wide_map_given_by_number_moves_above_the_targets) {
  // 400 targets, each from our fd 1: the one for target 1 is passed as is, every other
  // one is copied above 399, each to a number of its own (400 + 399 fds: within the
  // usual limit of 1,024).
  detail::spawn_plan p;
  BOOST_REQUIRE(!p.prepare(with_stdio(std::vector<stdio>(400, stdio::from_fd(1))), calls));
  std::set<int> sources;
  for (const fd_move& x : moves(p)) {
    if (x.target == 1) {
      BOOST_TEST(x.source == 1);
      continue;
    }
    BOOST_TEST(x.source >= 400);
    sources.insert(x.source);
  }
  BOOST_TEST(sources.size() == 399u);
  BOOST_TEST(p.recipe().unshare_from == *sources.rbegin() + 1);
  BOOST_TEST(os.calls[k::k_dup] == 399);
}

BOOST_AUTO_TEST_SUITE_END()
