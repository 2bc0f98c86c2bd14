// SPDX-License-Identifier: MIT
// uvreap tests: reaper::spawn_async — the outcome on the loop thread, once, before the
// exit; errors delivered, not thrown; pipes opened on the loop; time limits from the
// call; the loop kept alive; close with starts queued. Runs under every policy.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
using namespace std::chrono_literals;

namespace {

// What one spawn_async produced, in the order the callbacks ran.
struct outcome {
  int started_calls = 0;
  pid_t started_pid = 0;
  std::error_code started_error;
  std::vector<exit_status> exits;
  std::vector<std::string> order;  // "started", "exit"
  std::thread::id started_on;

  started_callback on_started() {
    return [this](pid_t pid, std::error_code ec) {
      ++started_calls;
      started_pid = pid;
      started_error = ec;
      started_on = std::this_thread::get_id();
      order.emplace_back("started");
    };
  }
  exit_callback on_exit() {
    return [this](const exit_status& s) {
      exits.push_back(s);
      order.emplace_back("exit");
    };
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(spawn_async_suite, reaper_fixture)

BOOST_AUTO_TEST_CASE(on_started_has_the_pid_then_on_exit_runs_once_on_the_loop_thread) {
  outcome o;
  std::error_code ec;
  r.spawn_async(helper_options({"exit", "7"}), o.on_started(), o.on_exit(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_TEST(o.started_calls == 0);  // never inside the call
  BOOST_REQUIRE(run_until([&] { return !o.exits.empty(); }));
  run_for(50ms);  // nothing more may come
  BOOST_TEST(o.started_calls == 1);
  BOOST_TEST(!o.started_error);
  BOOST_TEST(o.started_pid > 0);
  BOOST_TEST(o.started_on == std::this_thread::get_id());
  BOOST_REQUIRE(o.exits.size() == 1u);
  BOOST_TEST(o.exits[0].pid() == o.started_pid);
  BOOST_TEST(o.exits[0].exited());
  BOOST_TEST(o.exits[0].code() == 7);
  BOOST_TEST((o.order == std::vector<std::string>{"started", "exit"}));
  BOOST_TEST(r.size() == 0u);
}

BOOST_AUTO_TEST_CASE(start_errors_arrive_in_on_started_once_with_no_child_and_no_fd) {
  // Each error spawn would return comes to on_started instead; on_exit never runs.
  char tmpl[] = "/tmp/uvreap-async-XXXXXX";
  const int tfd = ::mkstemp(tmpl);
  BOOST_REQUIRE(tfd >= 0);
  ::close(tfd);
  BOOST_REQUIRE(::chmod(tmpl, 0600) == 0);  // not executable
  struct bad {
    spawn_options opts;
    int err;
  };
  std::vector<bad> cases;
  cases.push_back({[] { spawn_options o; o.argv = {"/nonexistent/program"}; return o; }(), ENOENT});
  cases.push_back({[&] { spawn_options o; o.argv = {tmpl}; return o; }(), EACCES});
  cases.push_back({[] {
                     auto o = helper_options({"exit", "0"});
                     o.cwd = "/nonexistent/dir";
                     return o;
                   }(),
                   ENOENT});
  std::vector<outcome> got(cases.size());
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  const int fds = open_fd_count();  // after the init: the loop's first stream opens a spare fd
  cases[0].opts.stdio_map = {stdio::null(), stdio::pipe(&out, stdio::flow::from_child),
                             stdio::inherit()};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::error_code ec;
    r.spawn_async(cases[i].opts, got[i].on_started(), got[i].on_exit(), ec);
    BOOST_REQUIRE_MESSAGE(!ec, "refused at once: " << ec.message());
  }
  BOOST_REQUIRE(run_until([&] {
    for (const auto& g : got)
      if (g.started_calls == 0) return false;
    return true;
  }));
  run_for(50ms);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    BOOST_TEST_CONTEXT("case " << i) {
      BOOST_TEST(got[i].started_calls == 1);
      BOOST_TEST(got[i].started_pid == -1);
      BOOST_TEST(got[i].started_error.value() == cases[i].err);
      BOOST_TEST(got[i].exits.empty());
    }
  }
  BOOST_TEST(r.size() == 0u);
  BOOST_TEST(children_census().empty());
  // The failed start's pipe: both ends closed, the handle left unopened.
  uv_os_fd_t fd = -1;
  BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&out), &fd) == UV_EBADF);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  BOOST_REQUIRE(run_to_completion());
  BOOST_TEST(open_fd_count() == fds);
  ::unlink(tmpl);
}

BOOST_AUTO_TEST_CASE(what_is_refused_at_once_runs_no_callback) {
  int calls = 0;
  auto started = [&](pid_t, std::error_code) { ++calls; };
  auto exited = [&](const exit_status&) { ++calls; };
  std::error_code ec;
  r.spawn_async(helper_options({"exit", "0"}), {}, exited, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  ec.clear();
  r.spawn_async(helper_options({"exit", "0"}), started, {}, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  ec.clear();
  r.spawn_async(spawn_options{}, started, exited, ec);  // empty argv
  BOOST_TEST(ec == std::errc::invalid_argument);
  ec.clear();
  auto with_nul = helper_options({"exit", "0"});
  with_nul.argv.push_back(std::string("a\0b", 3));
  r.spawn_async(with_nul, started, exited, ec);
  BOOST_TEST(ec == std::errc::invalid_argument);
  BOOST_CHECK_THROW(r.spawn_async(spawn_options{}, started, exited), std::system_error);
  bool closed = false;
  r.close({}, [&] { closed = true; });
  ec.clear();
  r.spawn_async(helper_options({"exit", "0"}), started, exited, ec);
  BOOST_TEST(ec == estale);
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(a_pipe_is_opened_on_the_loop_thread_and_carries_the_output) {
  uv_pipe_t out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &out, 0) == 0);
  auto o = helper_options({"write", "hello from async"});
  o.stdio_map = {stdio::null(), stdio::pipe(&out, stdio::flow::from_child), stdio::inherit()};
  outcome got;
  bool opened_at_start = false;
  std::string text;
  bool eof = false;
  out.data = &text;
  r.spawn_async(
      o,
      [&](pid_t pid, std::error_code ec) {
        got.on_started()(pid, ec);
        uv_os_fd_t fd = -1;
        opened_at_start = uv_fileno(reinterpret_cast<uv_handle_t*>(&out), &fd) == 0;
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&out),
            [](uv_handle_t*, size_t, uv_buf_t* b) {
              static char buf[256];
              *b = uv_buf_init(buf, sizeof buf);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
              auto* t = static_cast<std::string*>(s->data);
              if (n > 0) t->append(b->base, static_cast<std::size_t>(n));
              if (n < 0) {
                t->push_back('\0');  // EOF marker
                uv_read_stop(s);
              }
            });
      },
      got.on_exit());
  uv_os_fd_t fd = -1;
  BOOST_TEST(uv_fileno(reinterpret_cast<uv_handle_t*>(&out), &fd) == UV_EBADF);  // not yet
  BOOST_REQUIRE(run_until([&] {
    eof = !text.empty() && text.back() == '\0';
    return eof && !got.exits.empty();
  }));
  BOOST_TEST(opened_at_start);
  BOOST_TEST(text == std::string("hello from async", 16) + '\0');
  BOOST_TEST(got.exits.at(0).code() == 0);
  uv_close(reinterpret_cast<uv_handle_t*>(&out), nullptr);
  BOOST_REQUIRE(run_to_completion());
}

BOOST_AUTO_TEST_CASE(uv_run_waits_for_the_outcome_and_the_exit) {
  // No other handle keeps the loop alive: uv_run must not return before both callbacks.
  outcome o;
  r.spawn_async(helper_options({"exit", "3"}), o.on_started(), o.on_exit());
  uv_run(&loop, UV_RUN_DEFAULT);
  BOOST_TEST(o.started_calls == 1);
  BOOST_REQUIRE(o.exits.size() == 1u);
  BOOST_TEST(o.exits[0].code() == 3);
}

BOOST_AUTO_TEST_CASE(a_time_limit_counts_from_the_call) {
  // The loop thread is busy for longer than the limit right after the call, so by the
  // time the child is registered its limit has expired: it fires at the first timer run
  // after on_started (counted from registration it would need the whole limit again).
  gate g;
  auto o = gated_helper(g, 0);
  o.time_limit = deadline{200ms, SIGTERM, 2000ms};
  outcome got;
  std::uint64_t fired_at_start = 99;
  r.spawn_async(
      o,
      [&](pid_t pid, std::error_code ec) {
        got.on_started()(pid, ec);
        fired_at_start = r.stats().deadlines_fired;
      },
      got.on_exit());
  hold_loop_thread(600ms);  // the work of a busy callback: the limit passes meanwhile
  BOOST_REQUIRE(run_until([&] { return got.started_calls == 1; }));
  BOOST_TEST(fired_at_start == 0u);
  // One timer pass is all it takes: two non-blocking iterations at most.
  int iterations = 0;
  while (r.stats().deadlines_fired == 0 && iterations < 2) {
    uv_run(&loop, UV_RUN_NOWAIT);
    ++iterations;
  }
  BOOST_TEST(r.stats().deadlines_fired == 1u);
  BOOST_REQUIRE(run_until([&] { return !got.exits.empty(); }));
  BOOST_TEST(got.exits[0].signaled());
  BOOST_TEST(got.exits[0].signal() == SIGTERM);
  BOOST_TEST(got.exits[0].deadline_fired());
}

BOOST_AUTO_TEST_CASE(an_exception_in_on_started_is_reported_and_the_child_still_reaped) {
  outcome o;
  r.spawn_async(
      helper_options({"exit", "5"}),
      [&](pid_t pid, std::error_code ec) {
        o.on_started()(pid, ec);
        throw std::runtime_error("from on_started");
      },
      o.on_exit());
  BOOST_REQUIRE(run_until([&] { return !o.exits.empty(); }));
  BOOST_TEST(o.started_calls == 1);
  BOOST_TEST(o.exits[0].code() == 5);
  BOOST_TEST(r.stats().callback_exceptions == 1u);
}

BOOST_AUTO_TEST_CASE(close_with_starts_queued_leaves_no_child_running_or_unreaped) {
  // Starts queued, one being made, some made and queued for the loop: close (leaving
  // children running) before the loop runs. No callback runs, and no child is left at
  // all — nobody was ever given their pids.
  bool fixture_closed = false;  // one `all` reaper at a time: the fixture's goes first
  r.close({}, [&] { fixture_closed = true; });
  BOOST_REQUIRE(run_until([&] { return fixture_closed; }));
  for (const bool kill_children : {false, true}) {
    BOOST_TEST_CONTEXT("kill_children " << kill_children) {
      reaper q{&loop, test_options()};
      gate g;
      int calls = 0;
      for (int i = 0; i < 20; ++i) {
        q.spawn_async(
            gated_helper(g, 0), [&](pid_t, std::error_code) { ++calls; },
            [&](const exit_status&) { ++calls; });
      }
      hold_loop_thread(20ms);  // let the starter make some of them
      bool closed = false;
      q.close(kill_children ? close_options::kill_children(100ms) : close_options::leave_running(),
              [&] { closed = true; });
      BOOST_REQUIRE(run_until([&] { return closed; }));
      BOOST_TEST(calls == 0);
      BOOST_TEST(children_census().empty());
      BOOST_TEST(no_zombies());
    }
  }
}

BOOST_AUTO_TEST_CASE(close_from_on_started_abandons_the_other_outcomes_and_their_children) {
  gate g;
  int started = 0;
  int exits = 0;
  bool closed = false;
  for (int i = 0; i < 5; ++i) {
    r.spawn_async(
        gated_helper(g, 0),
        [&](pid_t, std::error_code) {
          if (++started == 1) r.close(close_options::leave_running(), [&] { closed = true; });
        },
        [&](const exit_status&) { ++exits; });
  }
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(started == 1);
  BOOST_TEST(exits == 0);
  // The one whose pid was given is left running (leave_running); the others are gone.
  const auto left = children_census();
  BOOST_TEST(left.size() <= 1u);
  g.open();
  for (pid_t p : left) {
    int st = 0;
    BOOST_TEST(::waitpid(p, &st, 0) == p);
  }
}

BOOST_AUTO_TEST_SUITE_END()
