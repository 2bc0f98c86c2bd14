// SPDX-License-Identifier: MIT
// uvreap tests: each policy on a fully scripted seam — no loop, no processes. Every
// syscall a policy makes is checked against the script, in order, and counted.
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <deque>
#include <string>
#include <vector>

#include "policy.hpp"

using namespace uvreap;
using namespace uvreap::detail;

BOOST_TEST_DONT_PRINT_LOG_VALUE(std::errc)

namespace {

// A kernel that answers only what the test scripted, and writes down every call.
class scripted_kernel final : public sys::interface {
 public:
  struct answer {
    long result;               // the seam's return value (a pid, 0, an fd, or -errno)
    pid_t pid;                 // waitid: si_pid; epoll_wait: not used
    std::vector<pid_t> ready;  // epoll_wait: the pids whose pidfds are readable
  };
  std::deque<std::pair<std::string, answer>> script;
  std::vector<std::string> calls;

  void expect(std::string call, long result, pid_t pid = 0, std::vector<pid_t> ready = {}) {
    script.emplace_back(std::move(call), answer{result, pid, std::move(ready)});
  }
  [[nodiscard]] bool finished() const { return script.empty(); }

  pid_t wait4(pid_t pid, int* status, int /*options*/, ::rusage* /*ru*/) noexcept override {
    const answer a = next("wait4(" + std::to_string(pid) + ")");
    if (a.result > 0) *status = 3 << 8;  // "exited with code 3"
    return static_cast<pid_t>(a.result);
  }
  int waitid(idtype_t type, id_t id, siginfo_t* info, int /*options*/) noexcept override {
    const answer a =
        next(type == P_ALL ? std::string("waitid(P_ALL)") : "waitid(" + std::to_string(id) + ")");
    info->si_pid = a.pid;
    return static_cast<int>(a.result);
  }
  int kill(pid_t pid, int sig) noexcept override {
    return static_cast<int>(
        next("kill(" + std::to_string(pid) + "," + std::to_string(sig) + ")").result);
  }
  int pidfd_open(pid_t pid, unsigned /*flags*/) noexcept override {
    return static_cast<int>(next("pidfd_open(" + std::to_string(pid) + ")").result);
  }
  int epoll_create1(int /*flags*/) noexcept override {
    return static_cast<int>(next("epoll_create1").result);
  }
  int epoll_ctl(int /*epfd*/, int op, int fd, ::epoll_event* /*ev*/) noexcept override {
    const char* name = op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_MOD ? "MOD" : "DEL";
    return static_cast<int>(
        next(std::string("epoll_ctl(") + name + "," + std::to_string(fd) + ")").result);
  }
  int epoll_wait(int /*epfd*/, ::epoll_event* events, int max, int /*timeout*/) noexcept override {
    const answer a = next("epoll_wait");
    if (a.result < 0) return static_cast<int>(a.result);
    int n = 0;
    for (pid_t p : a.ready) {
      if (n == max) break;
      events[n].events = EPOLLIN;
      events[n].data.u64 = static_cast<std::uint64_t>(p);
      ++n;
    }
    return n;
  }
  int close(int fd) noexcept override {
    return static_cast<int>(next("close(" + std::to_string(fd) + ")").result);
  }
  int get_child_subreaper(int* on) noexcept override {
    *on = 0;
    return static_cast<int>(next("get_subreaper").result);
  }
  int set_child_subreaper(int on) noexcept override {
    return static_cast<int>(next("set_subreaper(" + std::to_string(on) + ")").result);
  }

 private:
  answer next(std::string call) {
    calls.push_back(call);
    if (script.empty() || script.front().first != call) {
      unexpected.push_back(call);
      return {-ENOSYS, 0, {}};
    }
    answer a = script.front().second;
    script.pop_front();
    return a;
  }

 public:
  std::vector<std::string> unexpected;  // calls the script did not foresee
};

struct sink final : error_sink {
  std::vector<std::pair<int, std::string>> errors;
  void report(int neg_errno, std::string_view what) noexcept override {
    errors.emplace_back(neg_errno, std::string(what));
  }
};

// One policy, its table, and what one collect() sees.
struct policy_fixture {
  scripted_kernel kernel;
  stats counters{};
  os_calls os{kernel, counters.syscalls};
  child_table table;
  std::vector<reaped> out;
  sink errors;

  void own(std::initializer_list<pid_t> pids) {
    for (pid_t p : pids)
      table.insert(p, [](const exit_status&) {});
  }
  // What the thread inbox would answer (null: no inbox, as a reaper without threads).
  struct scripted_registrations : registrations {
    std::vector<pid_t> coming;
    std::vector<pid_t> asked;
    bool may_be_coming(pid_t pid) noexcept override {
      asked.push_back(pid);
      return std::find(coming.begin(), coming.end(), pid) != coming.end();
    }
  } inbox;
  bool deferred = false;

  sweep_result collect(exit_source& p, std::size_t budget = 512,
                       sweep_kind kind = sweep_kind::wake) {
    out.clear();
    sweep_context ctx{table, os, out, budget, kind, errors, counters, &inbox};
    const sweep_result r = p.collect(ctx);
    deferred = ctx.deferred;
    return r;
  }
  std::vector<pid_t> pids() const {
    std::vector<pid_t> v;
    for (const auto& r : out)
      v.push_back(r.pid);
    return v;
  }
  void check_script() {
    BOOST_TEST(kernel.unexpected.empty());
    for (const auto& c : kernel.unexpected)
      BOOST_TEST_MESSAGE("unexpected call " << c);
    BOOST_TEST(kernel.finished());
  }
};

std::unique_ptr<exit_source> own_policy() {
  std::error_code ec;
  auto p = start_own_policy(ec);
  BOOST_REQUIRE(!ec);
  return p;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(policy_suite, policy_fixture)

// --- own ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(own_fast_path_is_one_peek_and_one_wait4_per_exit) {
  auto p = own_policy();
  own({10, 11});
  kernel.expect("waitid(P_ALL)", 0, 10);
  kernel.expect("wait4(10)", 10);
  kernel.expect("waitid(P_ALL)", 0, 11);
  kernel.expect("wait4(11)", 11);
  kernel.expect("waitid(P_ALL)", 0, 0);  // nothing more
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{10, 11}));
  BOOST_TEST(!out[0].lost);
  BOOST_TEST(WEXITSTATUS(out[0].status) == 3);
  BOOST_TEST(counters.fast_path_hits == 2u);
  BOOST_TEST(counters.syscalls.total() == 5u);
  check_script();
}

BOOST_AUTO_TEST_CASE(own_with_no_children_makes_no_call) {
  auto p = own_policy();
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST(kernel.calls.empty());
}

BOOST_AUTO_TEST_CASE(own_scans_by_pid_past_a_foreign_zombie_and_never_reaps_it) {
  auto p = own_policy();
  own({10, 11});
  kernel.expect("waitid(P_ALL)", 0, 99);  // the oldest zombie is not ours
  kernel.expect("wait4(10)", 0);          // still running
  kernel.expect("wait4(11)", 11);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{11}));
  BOOST_TEST(counters.fallback_scans == 1u);
  check_script();  // no wait4(99), no wait4(-1)
}

BOOST_AUTO_TEST_CASE(own_ends_a_sweep_that_reaped_before_meeting_a_foreign_zombie) {
  // The scan would meet pid 10 again, reaped a moment ago and still in the table: the
  // next sweep scans instead.
  auto p = own_policy();
  own({10, 11});
  kernel.expect("waitid(P_ALL)", 0, 10);
  kernel.expect("wait4(10)", 10);
  kernel.expect("waitid(P_ALL)", 0, 99);
  BOOST_TEST((collect(*p) == sweep_result::more));
  BOOST_TEST((pids() == std::vector<pid_t>{10}));
  BOOST_TEST(counters.fallback_scans == 0u);
  check_script();
}

BOOST_AUTO_TEST_CASE(own_stops_at_a_child_on_its_way_from_another_thread_and_scans_past_others) {
  // The oldest zombie, 50, is not in the table. The inbox says it may be coming: the
  // sweep stops there (the registration's wake-up sweeps again), no scan. Once the inbox
  // says no, 50 is foreign: the scan by pid runs and never touches it.
  auto p = own_policy();
  own({10});
  inbox.coming = {50};
  kernel.expect("waitid(P_ALL)", 0, 50);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST(deferred);
  BOOST_TEST(out.empty());
  BOOST_TEST(counters.fallback_scans == 0u);
  inbox.coming.clear();
  kernel.expect("waitid(P_ALL)", 0, 50);
  kernel.expect("wait4(10)", 10);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST(!deferred);
  BOOST_TEST((pids() == std::vector<pid_t>{10}));
  BOOST_TEST(counters.fallback_scans == 1u);
  BOOST_TEST((inbox.asked == std::vector<pid_t>{50, 50}));
  check_script();
}

BOOST_AUTO_TEST_CASE(own_asks_the_inbox_only_about_a_pid_missing_from_the_table) {
  auto p = own_policy();
  own({10, 11});
  kernel.expect("waitid(P_ALL)", 0, 10);
  kernel.expect("wait4(10)", 10);
  kernel.expect("waitid(P_ALL)", 0, 0);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST(inbox.asked.empty());
  check_script();
}

BOOST_AUTO_TEST_CASE(own_echild_from_the_peek_delivers_every_child_as_lost) {
  auto p = own_policy();
  own({10, 11});
  kernel.expect("waitid(P_ALL)", -ECHILD);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_REQUIRE(out.size() == 2u);
  BOOST_TEST(out[0].lost);
  BOOST_TEST(out[1].lost);
  check_script();
}

BOOST_AUTO_TEST_CASE(own_echild_from_wait4_is_one_lost_child_and_a_fresh_sweep) {
  auto p = own_policy();
  own({10, 11});
  kernel.expect("waitid(P_ALL)", 0, 10);
  kernel.expect("wait4(10)", -ECHILD);  // someone else took it between peek and wait4
  BOOST_TEST((collect(*p) == sweep_result::more));
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].pid == 10);
  BOOST_TEST(out[0].lost);
  check_script();
}

BOOST_AUTO_TEST_CASE(own_retries_eintr_in_place_and_counts_it) {
  auto p = own_policy();
  own({10});
  kernel.expect("waitid(P_ALL)", -EINTR);
  kernel.expect("waitid(P_ALL)", 0, 10);
  kernel.expect("wait4(10)", -EINTR);
  kernel.expect("wait4(10)", 10);
  kernel.expect("waitid(P_ALL)", 0, 0);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{10}));
  BOOST_TEST(counters.syscalls.eintr == 2u);
  BOOST_TEST(counters.syscalls.waitid == 3u);
  BOOST_TEST(counters.syscalls.wait4 == 2u);
  BOOST_TEST(errors.errors.empty());
  check_script();
}

BOOST_AUTO_TEST_CASE(own_reports_an_unexpected_errno_and_asks_for_a_resweep) {
  auto p = own_policy();
  own({10});
  kernel.expect("waitid(P_ALL)", -EINVAL);
  BOOST_TEST((collect(*p) == sweep_result::resweep));
  BOOST_REQUIRE(errors.errors.size() == 1u);
  BOOST_TEST(errors.errors[0].first == -EINVAL);
  check_script();
}

BOOST_AUTO_TEST_CASE(own_stops_at_its_budget_and_asks_for_more) {
  auto p = own_policy();
  own({10, 11, 12});
  kernel.expect("waitid(P_ALL)", 0, 10);
  kernel.expect("wait4(10)", 10);
  kernel.expect("waitid(P_ALL)", 0, 11);
  kernel.expect("wait4(11)", 11);
  BOOST_TEST((collect(*p, 2) == sweep_result::more));
  BOOST_TEST(out.size() == 2u);
  check_script();
}

BOOST_AUTO_TEST_CASE(own_safety_poll_asks_each_pid_by_number) {
  auto p = own_policy();
  own({10, 11});
  kernel.expect("wait4(10)", -ECHILD);  // someone else reaped it: noticed now
  kernel.expect("wait4(11)", 0);
  BOOST_TEST((collect(*p, 512, sweep_kind::safety_poll) == sweep_result::done));
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].lost);
  check_script();
}

// --- all ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(all_reaps_anything_with_one_wait4_per_exit_and_claims_the_process) {
  options o;
  o.reap_policy = policy::all;
  std::error_code ec;
  auto p = start_all_policy(o, os, ec);
  BOOST_REQUIRE(!ec);
  std::error_code second;
  BOOST_TEST(!start_all_policy(o, os, second));  // one per process
  BOOST_TEST(second == std::errc::device_or_resource_busy);
  own({10});
  kernel.expect("wait4(-1)", 10);
  kernel.expect("wait4(-1)", 77);  // nobody's: the core makes it an orphan
  kernel.expect("wait4(-1)", 0);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{10, 77}));
  BOOST_TEST(p->reaps_unregistered());
  p->close(os, errors);
  BOOST_TEST(static_cast<bool>(start_all_policy(o, os, second)));  // the claim is free again
  check_script();
}

BOOST_AUTO_TEST_CASE(all_sets_the_subreaper_flag_and_restores_it_at_close) {
  options o;
  o.reap_policy = policy::all;
  o.subreaper = true;
  kernel.expect("get_subreaper", 0);
  kernel.expect("set_subreaper(1)", 0);
  std::error_code ec;
  auto p = start_all_policy(o, os, ec);
  BOOST_REQUIRE(!ec);
  kernel.expect("set_subreaper(0)", 0);
  p->close(os, errors);
  p->close(os, errors);  // idempotent: no second prctl
  check_script();
}

BOOST_AUTO_TEST_CASE(all_echild_means_every_owned_child_was_taken) {
  options o;
  o.reap_policy = policy::all;
  std::error_code ec;
  auto p = start_all_policy(o, os, ec);
  BOOST_REQUIRE(!ec);
  own({10, 11});
  kernel.expect("wait4(-1)", -ECHILD);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_REQUIRE(out.size() == 2u);
  BOOST_TEST((out[0].lost && out[1].lost));
  check_script();
}

// --- pidfd -------------------------------------------------------------------------

namespace {
std::unique_ptr<exit_source> pidfd_policy(scripted_kernel& k, os_calls& os) {
  k.expect("pidfd_open(" + std::to_string(::getpid()) + ")", 40);  // the probe
  k.expect("close(40)", 0);
  k.expect("epoll_create1", 41);
  options o;
  o.reap_policy = policy::pidfd;
  std::error_code ec;
  auto p = start_pidfd_policy(o, os, ec);
  BOOST_REQUIRE(!ec);
  return p;
}
}  // namespace

BOOST_AUTO_TEST_CASE(pidfd_start_on_a_kernel_without_it_says_enosys) {
  kernel.expect("pidfd_open(" + std::to_string(::getpid()) + ")", -ENOSYS);
  options o;
  o.reap_policy = policy::pidfd;
  std::error_code ec;
  BOOST_TEST(!start_pidfd_policy(o, os, ec));
  BOOST_TEST(ec == std::errc::function_not_supported);  // start_policy then runs own
  check_script();
}

BOOST_AUTO_TEST_CASE(pidfd_an_exit_costs_one_epoll_wait_one_wait4_and_one_close) {
  auto p = pidfd_policy(kernel, os);
  BOOST_TEST(p->poll_fd() == 41);
  kernel.expect("pidfd_open(10)", 50);
  kernel.expect("epoll_ctl(ADD,50)", 0);
  const adoption a = p->adopted(10, -1, os);
  BOOST_TEST(a.pidfd == 50);
  BOOST_TEST(!a.look_now);
  BOOST_TEST(!p->wants_sigchld());
  table.insert(
      10, [](const exit_status&) {}, a.pidfd);
  kernel.expect("epoll_wait", 0, 0, {10});
  kernel.expect("wait4(10)", 10);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{10}));
  kernel.expect("close(50)", 0);
  p->released(10, 50, os, errors);
  kernel.expect("close(41)", 0);  // the epoll set, when the policy goes
  p.reset();
  check_script();
}

BOOST_AUTO_TEST_CASE(pidfd_a_child_without_a_pidfd_is_scanned_by_pid_on_sigchld) {
  auto p = pidfd_policy(kernel, os);
  kernel.expect("pidfd_open(10)", -EMFILE);
  const adoption a = p->adopted(10, -1, os);
  BOOST_TEST(a.pidfd == -1);
  BOOST_TEST(a.look_now);          // its exit may be past: the core looks once
  BOOST_TEST(p->wants_sigchld());  // and watches SIGCHLD for it
  table.insert(
      10, [](const exit_status&) {}, -1);
  kernel.expect("wait4(10)", 10);
  kernel.expect("epoll_wait", 0);
  BOOST_TEST((collect(*p) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{10}));
  BOOST_TEST(counters.fallback_scans == 1u);
  p->released(10, -1, os, errors);
  BOOST_TEST(!p->wants_sigchld());
  kernel.expect("close(41)", 0);
  p.reset();
  check_script();
}

BOOST_AUTO_TEST_CASE(pidfd_a_failed_epoll_add_closes_the_pidfd_and_falls_back) {
  auto p = pidfd_policy(kernel, os);
  kernel.expect("pidfd_open(10)", 50);
  kernel.expect("epoll_ctl(ADD,50)", -ENOMEM);
  kernel.expect("close(50)", 0);
  const adoption a = p->adopted(10, -1, os);
  BOOST_TEST(a.pidfd == -1);
  BOOST_TEST(a.look_now);
  kernel.expect("close(41)", 0);
  p.reset();
  check_script();
}

BOOST_AUTO_TEST_CASE(pidfd_readable_with_nothing_to_reap_is_parked_and_rearmed_on_resweep) {
  auto p = pidfd_policy(kernel, os);
  table.insert(
      10, [](const exit_status&) {}, 50);
  kernel.expect("epoll_wait", 0, 0, {10});
  kernel.expect("wait4(10)", 0);  // a traced child: its tracer sees the exit first
  BOOST_TEST((collect(*p) == sweep_result::resweep));
  BOOST_TEST(out.empty());
  BOOST_TEST(counters.pidfd_not_reapable == 1u);
  // A wake-up sweep leaves it parked; the re-sweep re-arms it first.
  kernel.expect("epoll_wait", 0);
  BOOST_TEST((collect(*p) == sweep_result::done));
  kernel.expect("epoll_ctl(MOD,50)", 0);
  kernel.expect("epoll_wait", 0, 0, {10});
  kernel.expect("wait4(10)", 10);
  BOOST_TEST((collect(*p, 512, sweep_kind::resweep) == sweep_result::done));
  BOOST_TEST((pids() == std::vector<pid_t>{10}));
  kernel.expect("close(41)", 0);
  p.reset();
  check_script();
}

BOOST_AUTO_TEST_CASE(pidfd_an_epoll_wait_failure_is_reported_and_resweeps) {
  auto p = pidfd_policy(kernel, os);
  kernel.expect("epoll_wait", -EINTR);
  kernel.expect("epoll_wait", -EBADF);
  BOOST_TEST((collect(*p) == sweep_result::resweep));
  BOOST_REQUIRE(errors.errors.size() == 1u);
  BOOST_TEST(errors.errors[0].second == "epoll_wait");
  BOOST_TEST(counters.syscalls.eintr == 1u);
  kernel.expect("close(41)", 0);
  p.reset();
  check_script();
}

BOOST_AUTO_TEST_SUITE_END()
