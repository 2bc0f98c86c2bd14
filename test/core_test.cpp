// SPDX-License-Identifier: MIT
// uvreap tests: the core alone — sweep, batching and continuations, re-sweeps, dispatch
// stopping on close, the close state machine, time limits and the loop reference — on a
// real libuv loop with a fake policy, a fake kernel and a fake clock. No process is made:
// a "child" is a number the fake kernel hands out from clone, and it "exits" when a test
// says so; a sweep is woken by a SIGCHLD the test sends itself.
#include "core.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"
#include "uvreap/testing/sys.hpp"

using namespace uvreap;
using namespace uvreap::test;

namespace {

// The kernel as the core sees it, with no process behind it: clone hands out numbers,
// a child is running until the test (or a signal it dies of) makes it a zombie, and
// wait4 reaps zombies. Every call the core makes that is not modelled fails the test.
class fake_kernel final : public sys::interface {
 public:
  std::map<pid_t, int> zombies;   // pid -> raw wait status, in pid order
  std::vector<pid_t> exit_order;  // the order zombies were made in
  std::map<pid_t, bool> alive;    // made and not reaped
  std::map<int, bool> dies_of;    // signals that end a child at once
  std::vector<std::pair<pid_t, int>> kills;
  pid_t next_pid = 100000;
  int unexpected = 0;

  void exit(pid_t pid, int raw_status) {
    BOOST_REQUIRE(alive.count(pid) == 1);
    zombies[pid] = raw_status;
    exit_order.push_back(pid);
  }

  int get_sigaction(int, struct sigaction* old) noexcept override {
    *old = {};  // SIG_DFL
    return 0;
  }
  int get_sigmask(sigset_t* mask) noexcept override { return sigemptyset(mask) == 0 ? 0 : -EINVAL; }
  pid_t clone(int (*)(void*), void*, int, void*, int* pidfd) noexcept override {
    *pidfd = -1;
    const pid_t pid = next_pid++;
    alive[pid] = true;
    return pid;  // "exec'd": the recipe's failed_step stays none
  }
  int waitid(idtype_t type, id_t id, siginfo_t* info, int) noexcept override {
    // watch(): is it ours, has it exited?
    if (type != P_PID || alive.count(static_cast<pid_t>(id)) == 0) return -ECHILD;
    *info = {};
    if (zombies.count(static_cast<pid_t>(id)) != 0) info->si_pid = static_cast<pid_t>(id);
    return 0;
  }
  pid_t wait4(pid_t pid, int* status, int options, ::rusage* usage) noexcept override {
    if (pid <= 0 || (options & WNOHANG) == 0) {
      ++unexpected;
      return -EINVAL;
    }
    if (alive.count(pid) == 0) return -ECHILD;
    const auto z = zombies.find(pid);
    if (z == zombies.end()) return 0;
    *status = z->second;
    if (usage != nullptr) *usage = {};
    zombies.erase(z);
    alive.erase(pid);
    return pid;
  }
  int kill(pid_t pid, int sig) noexcept override {
    kills.emplace_back(pid, sig);
    if (alive.count(pid) == 0) return -ESRCH;
    if (dies_of[sig] && zombies.count(pid) == 0) {
      exit(pid, sig);
      ::kill(::getpid(), SIGCHLD);  // as the kernel would
    }
    return 0;
  }
  int close(int) noexcept override { return 0; }
  int spawn(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
            char* const[], char* const[], bool) noexcept override {
    ++unexpected;
    return -ENOSYS;
  }
};

// The policy as the core sees it: reaps the zombies among the table's children, oldest
// exit first, within the budget; says `more` when some are left. A test may make the
// next collects say `resweep` instead, and sees every collect's kind and budget.
class fake_source final : public detail::exit_source {
 public:
  explicit fake_source(fake_kernel& k) : kernel_(k) {}
  struct seen {
    detail::sweep_kind kind;
    std::size_t budget;
  };
  std::vector<seen> collects;
  int fail_next = 0;  // collects that report a failure (resweep) before reaping

  policy kind() const noexcept override { return policy::own; }
  detail::sweep_result collect(detail::sweep_context& ctx) noexcept override {
    collects.push_back({ctx.kind, ctx.budget});
    if (fail_next > 0) {
      --fail_next;
      ctx.errors.report(-EIO, "fake collect");
      return detail::sweep_result::resweep;
    }
    for (const pid_t pid : std::vector<pid_t>(kernel_.exit_order)) {
      if (!ctx.table.contains(pid) || kernel_.zombies.count(pid) == 0) continue;
      if (ctx.out.size() == ctx.budget) return detail::sweep_result::more;
      int err = 0;
      (void)detail::reap_by_pid(ctx.os, pid, ctx.out, &err);
    }
    return detail::sweep_result::done;
  }

 private:
  fake_kernel& kernel_;
};

struct core_fixture : loop_fixture {
  fake_kernel kernel;
  fake_source* source = nullptr;  // owned by the core
  std::uint64_t now_ms = 1'000'000;
  std::vector<std::pair<int, std::string>> errors;
  recorder rec;
  std::shared_ptr<detail::core> core;

  options opts() {
    options o;
    o.os = &kernel;
    o.safety_sweep = std::chrono::milliseconds{0};  // no sweep the test did not ask for
    o.on_error = [this](std::error_code ec, std::string_view what) {
      errors.emplace_back(ec.value(), std::string(what));
    };
    return o;
  }
  void start(options o) {
    detail::core_seams seams;
    seams.policy = [this] {
      auto p = std::make_unique<fake_source>(kernel);
      source = p.get();
      return std::unique_ptr<detail::exit_source>(std::move(p));
    };
    seams.clock = [this] { return now_ms; };
    core = std::make_shared<detail::core>(&loop, std::move(o), std::move(seams));
    BOOST_REQUIRE(!core->start(core));
    // Its first look, for exits before its signal watcher started (a continuation).
    BOOST_REQUIRE(run_until([&] { return core->counters().sweeps == 1; }));
    source->collects.clear();
  }
  pid_t spawn(std::optional<deadline> limit = std::nullopt) {
    spawn_options so;
    so.argv = {"/nonexistent/never-run"};
    so.time_limit = limit;
    std::error_code ec;
    const pid_t pid = core->spawn(so, rec.cb(), ec);
    BOOST_REQUIRE(!ec);
    BOOST_REQUIRE(pid > 0);
    return pid;
  }
  // Wakes the core as the kernel would after an exit, and waits for the sweep it starts.
  void sigchld() {
    const auto before = core->counters().sweeps;
    BOOST_REQUIRE(::kill(::getpid(), SIGCHLD) == 0);
    BOOST_REQUIRE(run_until([&] { return core->counters().sweeps > before; }));
  }
  void advance(std::chrono::milliseconds d) {
    now_ms += static_cast<std::uint64_t>(d.count());
    core->clock_moved();
  }
  void close_now() {
    if (core && core->open()) core->close(close_options::leave_running(), nullptr);
    core.reset();
    BOOST_TEST(run_to_completion());
  }
  ~core_fixture() {
    close_now();
    BOOST_TEST(kernel.unexpected == 0);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(core_suite, core_fixture)

BOOST_AUTO_TEST_CASE(an_exit_reaches_its_callback_once_with_its_status) {
  start(opts());
  const pid_t a = spawn();
  BOOST_TEST(core->size() == 1u);
  kernel.exit(a, W_EXITCODE(7, 0));
  sigchld();
  BOOST_REQUIRE(rec.calls == 1u);
  BOOST_TEST(rec.by_pid[a].at(0).code() == 7);
  BOOST_TEST(core->size() == 0u);
  // More wake-ups find nothing and call nothing again.
  sigchld();
  sigchld();
  BOOST_TEST(rec.calls == 1u);
  BOOST_TEST(core->counters().exits_reaped == 1u);
  BOOST_TEST(core->counters().empty_sweeps >= 2u);
}

BOOST_AUTO_TEST_CASE(an_exit_larger_than_the_batch_is_finished_by_continuations) {
  auto o = opts();
  o.max_batch = 4;
  start(o);
  std::vector<pid_t> pids;
  for (int i = 0; i < 10; ++i)
    pids.push_back(spawn());
  for (pid_t p : pids)
    kernel.exit(p, W_EXITCODE(1, 0));
  // One wake-up: 4, then 4 and 2 in continuations on the next iterations, no signal.
  BOOST_REQUIRE(::kill(::getpid(), SIGCHLD) == 0);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 10u; }));
  BOOST_TEST(core->counters().continuations == 2u);
  BOOST_TEST(core->counters().largest_batch == 4u);
  BOOST_REQUIRE(source->collects.size() >= 3u);
  for (const auto& c : source->collects)
    BOOST_TEST(c.budget == 4u);
  for (pid_t p : pids)
    BOOST_TEST(rec.by_pid[p].size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_collect_is_reported_and_swept_again_on_the_timer) {
  start(opts());
  const pid_t a = spawn();
  kernel.exit(a, W_EXITCODE(0, 0));
  source->fail_next = 1;
  BOOST_REQUIRE(::kill(::getpid(), SIGCHLD) == 0);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1u; }));
  BOOST_REQUIRE(source->collects.size() >= 2u);
  BOOST_TEST((source->collects[0].kind == detail::sweep_kind::wake));
  BOOST_TEST((source->collects[1].kind == detail::sweep_kind::resweep));
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].first == EIO);
}

BOOST_AUTO_TEST_CASE(a_callback_that_closes_the_reaper_stops_the_batch) {
  start(opts());
  std::vector<pid_t> pids;
  int calls = 0;
  bool closed = false;
  // Five exits in one batch; the first callback closes the reaper.
  for (int i = 0; i < 5; ++i) {
    spawn_options so;
    so.argv = {"/nonexistent/never-run"};
    std::error_code ec;
    pids.push_back(core->spawn(
        so,
        [&](const exit_status&) {
          ++calls;
          core->close(close_options::leave_running(), [&] { closed = true; });
        },
        ec));
    BOOST_REQUIRE(!ec);
  }
  for (pid_t p : pids)
    kernel.exit(p, W_EXITCODE(0, 0));
  BOOST_REQUIRE(::kill(::getpid(), SIGCHLD) == 0);
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(calls == 1);
  BOOST_TEST(!core->open());
}

BOOST_AUTO_TEST_CASE(close_with_no_child_finishes_in_the_loop_with_no_signal) {
  start(opts());
  bool closed = false;
  BOOST_TEST(core->close(close_options::kill_children(), [&] { closed = true; }));
  BOOST_TEST(!closed);  // never from inside close()
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(kernel.kills.empty());
  // A second close is refused; spawn says ESTALE.
  BOOST_TEST(!core->close(close_options::leave_running(), nullptr));
  spawn_options so;
  so.argv = {"/bin/true"};
  std::error_code ec;
  BOOST_TEST(core->spawn(so, rec.cb(), ec) == -1);
  BOOST_TEST(ec.value() == ESTALE);
}

BOOST_AUTO_TEST_CASE(close_leaving_children_running_signals_none_and_calls_none) {
  start(opts());
  const pid_t a = spawn();
  bool closed = false;
  core->close(close_options::leave_running(), [&] { closed = true; });
  BOOST_REQUIRE(run_until([&] { return closed; }));
  BOOST_TEST(kernel.kills.empty());
  BOOST_TEST(rec.calls == 0u);
  BOOST_TEST(kernel.alive.count(a) == 1u);  // running, and no longer ours
}

BOOST_AUTO_TEST_CASE(close_killing_children_signals_waits_the_grace_then_kills_the_rest) {
  start(opts());
  const pid_t dies = spawn();
  const pid_t stays = spawn();
  kernel.dies_of[SIGKILL] = true;
  bool closed = false;
  // `dies` exits on its own when told to; `stays` ignores SIGTERM.
  kernel.dies_of[SIGTERM] = false;
  core->close(close_options::kill_children(std::chrono::milliseconds{20}), [&] { closed = true; });
  BOOST_TEST(kernel.kills.size() == 2u);
  kernel.exit(dies, W_EXITCODE(0, 0));
  BOOST_REQUIRE(run_until([&] { return closed; }));
  const std::vector<std::pair<pid_t, int>> want = {
      {dies, SIGTERM}, {stays, SIGTERM}, {stays, SIGKILL}};
  BOOST_TEST(kernel.kills == want);
  // Both reaped before on_closed; after a close no callback runs (records are dropped).
  BOOST_TEST(kernel.alive.empty());
  BOOST_TEST(rec.calls == 0u);
}

BOOST_AUTO_TEST_CASE(a_time_limit_signals_when_due_on_the_clock_and_kills_after_its_grace) {
  start(opts());
  const pid_t a = spawn(deadline{std::chrono::hours{1}, SIGTERM, std::chrono::minutes{1}});
  // One millisecond short: several turns of the loop, no signal.
  advance(std::chrono::hours{1} - std::chrono::milliseconds{1});
  for (int i = 0; i < 5; ++i)
    uv_run(&loop, UV_RUN_NOWAIT);
  BOOST_TEST(kernel.kills.empty());
  advance(std::chrono::milliseconds{1});
  BOOST_REQUIRE(run_until([&] { return kernel.kills.size() == 1u; }));
  BOOST_TEST((kernel.kills[0] == std::pair<pid_t, int>{a, SIGTERM}));
  BOOST_TEST(core->counters().deadlines_fired == 1u);
  advance(std::chrono::minutes{1});
  BOOST_REQUIRE(run_until([&] { return kernel.kills.size() == 2u; }));
  BOOST_TEST((kernel.kills[1] == std::pair<pid_t, int>{a, SIGKILL}));
  kernel.exit(a, SIGKILL);
  sigchld();
  BOOST_REQUIRE(rec.calls == 1u);
  BOOST_TEST(rec.by_pid[a][0].signal() == SIGKILL);
  BOOST_TEST(rec.by_pid[a][0].deadline_fired());
}

BOOST_AUTO_TEST_CASE(a_child_found_exited_at_its_deadline_is_reaped_never_signalled) {
  start(opts());
  const pid_t a = spawn(deadline{std::chrono::seconds{5}, SIGTERM, std::chrono::seconds{1}});
  kernel.exit(a, W_EXITCODE(3, 0));  // its SIGCHLD not seen yet
  advance(std::chrono::seconds{5});
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1u; }));
  BOOST_TEST(kernel.kills.empty());
  BOOST_TEST(rec.by_pid[a][0].code() == 3);
  BOOST_TEST(!rec.by_pid[a][0].deadline_fired());
  BOOST_TEST(core->counters().signals_skipped == 1u);
}

BOOST_AUTO_TEST_CASE(a_child_reaped_before_its_deadline_leaves_no_timer_and_no_signal) {
  start(opts());
  const pid_t a = spawn(deadline{std::chrono::seconds{5}, SIGTERM, std::chrono::seconds{1}});
  kernel.exit(a, W_EXITCODE(0, 0));
  sigchld();
  BOOST_REQUIRE(rec.calls == 1u);
  advance(std::chrono::seconds{10});
  for (int i = 0; i < 5; ++i)
    uv_run(&loop, UV_RUN_NOWAIT);
  BOOST_TEST(kernel.kills.empty());
  BOOST_TEST(core->counters().deadlines_fired == 0u);
}

BOOST_AUTO_TEST_CASE(the_loop_is_kept_alive_by_a_child_and_by_nothing_else) {
  start(opts());
  BOOST_TEST(uv_loop_alive(&loop) == 0);
  const pid_t a = spawn();
  BOOST_TEST(uv_loop_alive(&loop) != 0);
  kernel.exit(a, W_EXITCODE(0, 0));
  sigchld();
  BOOST_TEST(uv_loop_alive(&loop) == 0);
}

BOOST_AUTO_TEST_CASE(a_watched_child_that_has_exited_is_swept_without_a_signal) {
  start(opts());
  const pid_t a = spawn();
  // Hand it over as if forked by the application: forget it, then watch it.
  close_now();
  start(opts());
  kernel.exit(a, W_EXITCODE(5, 0));
  std::error_code ec;
  core->watch(a, rec.cb(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_TEST(rec.calls == 0u);  // never from inside watch()
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1u; }));
  BOOST_TEST(rec.by_pid[a][0].code() == 5);
  core->watch(a, rec.cb(), ec);
  BOOST_TEST(ec.value() == ECHILD);  // reaped: no longer ours
}

BOOST_AUTO_TEST_SUITE_END()
