// SPDX-License-Identifier: MIT
// uvreap tests: a sandbox per child (spawn_options::sandbox) — each rule allows what it
// should and refuses what it should (files read and written, TCP connect and bind, no new
// privileges, ptrace and added syscalls under the filter, signals out of the sandbox),
// the Landlock ABI probe and ENOTSUP through the seam (and best_effort's report), the
// sandbox with pipes, uid/gid and a tree, and the parent unaffected afterwards.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "scripted_os.hpp"
#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// What the kernel has; the suite's rules need ABI 6 (scopes) at most.
int landlock_abi() {
  const long r = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U);
  return r < 0 ? 0 : static_cast<int>(r);
}

boost::test_tools::assertion_result landlock_6(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(landlock_abi() >= 6);
  r.message() << "Landlock ABI 6 is not available (this kernel has " << landlock_abi() << ")";
  return r;
}

// A scratch tree: allowed/ (read), writable/ (write), outside/ (no rule), each with a file.
struct scratch {
  fs::path root;
  scratch() {
    char tmpl[] = "/tmp/uvreap-sandbox-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    root = tmpl;
    for (const char* d : {"allowed", "writable", "outside"}) {
      fs::create_directory(root / d);
      std::FILE* f = std::fopen((root / d / "file").c_str(), "w");
      BOOST_REQUIRE(f != nullptr);
      std::fputs("data\n", f);
      std::fclose(f);
    }
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  [[nodiscard]] std::string at(const char* rel) const { return (root / rel).string(); }
};

// What a sandboxed helper (this test binary, sanitizers included) needs to start: its
// libraries, its own directory, /proc (the sanitizers read their maps), /etc.
std::vector<std::string> runtime_paths() {
  std::vector<std::string> out;
  for (const char* p : {"/usr", "/lib", "/lib64", "/etc", "/proc"}) {
    if (fs::exists(p)) out.emplace_back(p);
  }
  out.push_back(fs::path(helper({})[0]).parent_path().string());
  return out;
}

sandbox_options confined(std::vector<std::string> extra_read = {},
                         std::vector<std::string> write = {}) {
  sandbox_options s;
  s.read = runtime_paths();
  s.read.insert(s.read.end(), extra_read.begin(), extra_read.end());
  s.write = std::move(write);
  return s;
}

spawn_options sandboxed(std::vector<std::string> args, const sandbox_options& s) {
  spawn_options o = helper_options(std::move(args));
  o.sandbox = s;
  return o;
}

// A TCP listener on 127.0.0.1, for connect checks.
struct listener {
  int fd = -1;
  int port = 0;
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~listener() { ::close(fd); }
};

// Runs `o` and returns its exit code (failing the test on anything else).
int run_code(reaper_fixture& fx, const spawn_options& o, exit_status* status = nullptr) {
  std::error_code ec;
  const auto before = fx.rec.calls;
  const pid_t pid = fx.r.spawn(o, fx.rec.cb(), ec);
  BOOST_REQUIRE_MESSAGE(pid > 0, "spawn: " << ec.message());
  BOOST_REQUIRE(fx.run_until([&] { return fx.rec.calls == before + 1; }));
  const exit_status& s = fx.rec.by_pid.at(pid).back();
  BOOST_TEST(s.exited(), to_string(s));
  if (status != nullptr) *status = s;
  return s.code();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(sandbox_suite, reaper_fixture, *boost::unit_test::precondition(landlock_6))

BOOST_AUTO_TEST_CASE(read_paths_are_readable_and_nothing_else_is) {
  scratch t;
  const sandbox_options s = confined({t.at("allowed")});
  exit_status st;
  BOOST_TEST(run_code(*this, sandboxed({"open-read", t.at("allowed/file")}, s), &st) == 0);
  BOOST_TEST(run_code(*this, sandboxed({"open-read", t.at("outside/file")}, s)) == EACCES);
  BOOST_TEST(run_code(*this, sandboxed({"open-write", t.at("allowed/file")}, s)) == EACCES);
  BOOST_TEST(run_code(*this, sandboxed({"open-write", t.at("allowed/new")}, s)) == EACCES);
  BOOST_TEST(!fs::exists(t.at("allowed/new")));
  const sandbox_report& r = st.sandbox_info();
  BOOST_TEST(r.requested);
  BOOST_TEST(r.filesystem);
  BOOST_TEST(r.no_new_privs);
  BOOST_TEST(r.landlock_abi == landlock_abi());
  BOOST_TEST(!r.seccomp);
  // Without a sandbox, the same child reads anything.
  BOOST_TEST(run_code(*this, helper_options({"open-read", t.at("outside/file")})) == 0);
}

BOOST_AUTO_TEST_CASE(write_paths_are_writable_and_truncation_elsewhere_is_refused) {
  scratch t;
  const sandbox_options s = confined({t.at("allowed")}, {t.at("writable")});
  BOOST_TEST(run_code(*this, sandboxed({"open-write", t.at("writable/new")}, s)) == 0);
  BOOST_TEST(fs::exists(t.at("writable/new")));
  BOOST_TEST(run_code(*this, sandboxed({"truncate", t.at("writable/file")}, s)) == 0);
  BOOST_TEST(fs::file_size(t.at("writable/file")) == 0u);
  BOOST_TEST(run_code(*this, sandboxed({"open-write", t.at("outside/new")}, s)) == EACCES);
  BOOST_TEST(run_code(*this, sandboxed({"truncate", t.at("outside/file")}, s)) == EACCES);
  BOOST_TEST(run_code(*this, sandboxed({"truncate", t.at("allowed/file")}, s)) == EACCES);
  BOOST_TEST(fs::file_size(t.at("outside/file")) == 5u);
  BOOST_TEST(fs::file_size(t.at("allowed/file")) == 5u);
}

BOOST_AUTO_TEST_CASE(network_false_refuses_tcp_connect_and_bind_and_true_allows_them) {
  listener l;
  sandbox_options s = confined();
  s.network = false;
  exit_status st;
  BOOST_TEST(run_code(*this, sandboxed({"connect", std::to_string(l.port)}, s), &st) == EACCES);
  BOOST_TEST(st.sandbox_info().network);
  BOOST_TEST(run_code(*this, sandboxed({"bind"}, s)) == EACCES);
  s.network = true;
  BOOST_TEST(run_code(*this, sandboxed({"connect", std::to_string(l.port)}, s)) == 0);
  BOOST_TEST(run_code(*this, sandboxed({"bind"}, s)) == 0);
}

BOOST_AUTO_TEST_CASE(no_new_privs_is_on_with_a_sandbox_and_off_without) {
  BOOST_TEST(run_code(*this, sandboxed({"no-new-privs"}, confined())) == 1);
  BOOST_TEST(run_code(*this, helper_options({"no-new-privs"})) == 0);
}

BOOST_AUTO_TEST_CASE(the_filter_refuses_ptrace_and_the_syscalls_added) {
  sandbox_options s = confined();
  s.seccomp = true;
  exit_status st;
  BOOST_TEST(run_code(*this, sandboxed({"ptrace-me"}, s), &st) == EPERM);
  BOOST_TEST(st.sandbox_info().seccomp);
  BOOST_TEST(run_code(*this, sandboxed({"getppid"}, s)) == 0);
  s.deny_syscalls = {SYS_getppid};
  BOOST_TEST(run_code(*this, sandboxed({"getppid"}, s)) == EPERM);
  // deny_syscalls alone turns the filter on.
  sandbox_options only = confined();
  only.deny_syscalls = {SYS_getppid};
  BOOST_TEST(run_code(*this, sandboxed({"getppid"}, only)) == EPERM);
  BOOST_TEST(run_code(*this, sandboxed({"ptrace-me"}, only)) == EPERM);
}

BOOST_AUTO_TEST_CASE(scope_signals_refuses_a_signal_to_a_process_outside) {
  sandbox_options s = confined();
  s.scope_signals = true;
  const std::string me = std::to_string(::getpid());
  BOOST_TEST(run_code(*this, sandboxed({"signal-pid", me}, s)) == EPERM);
  s.scope_signals = false;
  BOOST_TEST(run_code(*this, sandboxed({"signal-pid", me}, s)) == 0);
}

BOOST_AUTO_TEST_CASE(with_pipes_ids_and_a_tree) {
  scratch t;
  BOOST_REQUIRE(::chmod(t.root.c_str(), 0755) == 0);
  BOOST_REQUIRE(::chmod(t.at("allowed").c_str(), 0755) == 0);
  BOOST_REQUIRE(::chmod(t.at("allowed/file").c_str(), 0644) == 0);
  spawn_options o = sandboxed({"write", "confined"}, confined({t.at("allowed")}));
  o.sandbox->seccomp = true;
  o.sandbox->network = false;
  pipe_text out(&loop);
  o.stdio_map = {stdio::null(), stdio::pipe(&out.pipe, stdio::flow::from_child), stdio::inherit()};
  o.tree = tree::automatic;
  if (::geteuid() == 0) {
    o.uid = 65534;
    o.gid = 65534;
  }
  const pid_t pid = r.spawn(o, rec.cb());
  out.start();
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1 && out.text == "confined"; }));
  const exit_status& s = rec.by_pid.at(pid).front();
  BOOST_TEST(s.success());
  BOOST_TEST(s.sandbox_info().filesystem);
  BOOST_TEST(s.sandbox_info().seccomp);
  BOOST_TEST(s.tree_info().applied != tree::none);
  out.finish(*this);
}

BOOST_AUTO_TEST_CASE(spawn_async_and_a_spawn_from_another_thread_are_confined_too) {
  scratch t;
  sandbox_options s = confined();
  s.seccomp = true;
  pid_t started = -1;
  r.spawn_async(
      sandboxed({"open-read", t.at("outside/file")}, s),
      [&](pid_t pid, std::error_code ec) {
        BOOST_TEST(!ec);
        started = pid;
      },
      rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));
  BOOST_TEST(rec.by_pid.at(started).front().code() == EACCES);
  BOOST_TEST(rec.by_pid.at(started).front().sandbox_info().seccomp);
  pid_t other = -1;
  std::thread([&] { other = r.spawn(sandboxed({"ptrace-me"}, s), rec.cb()); }).join();
  BOOST_REQUIRE(other > 0);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 2; }));
  BOOST_TEST(rec.by_pid.at(other).front().code() == EPERM);
  BOOST_TEST(rec.by_pid.at(other).front().sandbox_info().filesystem);
}

BOOST_AUTO_TEST_CASE(the_parent_is_not_confined_afterwards) {
  scratch t;
  listener l;
  sandbox_options s = confined();
  s.network = false;
  s.seccomp = true;
  s.scope_signals = true;
  BOOST_TEST(run_code(*this, sandboxed({"open-read", t.at("outside/file")}, s)) == EACCES);
  // This process: reads and writes anywhere, connects, has no_new_privs off.
  BOOST_TEST(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
  const int f = ::open(t.at("outside/file").c_str(), O_RDWR | O_CLOEXEC);
  BOOST_TEST(f >= 0);
  ::close(f);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(l.port));
  BOOST_TEST(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::close(c);
  BOOST_TEST(::syscall(SYS_getppid) > 0);
  // And the next child without a sandbox is not confined either.
  BOOST_TEST(run_code(*this, helper_options({"open-read", t.at("outside/file")})) == 0);
  BOOST_TEST(run_code(*this, helper_options({"ptrace-me"})) == 0);
}

BOOST_AUTO_TEST_CASE(bad_sandboxes_are_refused_with_no_child_and_no_fd) {
  const int fds_before = open_fd_count();
  struct variant {
    const char* what;
    sandbox_options s;
    int err;
  };
  std::vector<variant> bad;
  {
    sandbox_options s = confined({""});
    bad.push_back({"empty path", s, EINVAL});
  }
  {
    sandbox_options s = confined({"/nonexistent/uvreap"});
    bad.push_back({"missing path", s, ENOENT});
  }
  {
    sandbox_options s = confined();
    s.deny_syscalls = {5000};
    bad.push_back({"syscall number", s, EINVAL});
  }
  {
    sandbox_options s = confined();
    s.deny_syscalls = {-1};
    bad.push_back({"negative syscall number", s, EINVAL});
  }
  for (const variant& v : bad) {
    BOOST_TEST_CONTEXT(v.what) {
      std::error_code ec;
      BOOST_TEST(r.spawn(sandboxed({"exit", "0"}, v.s), rec.cb(), ec) == -1);
      BOOST_TEST(ec.value() == v.err);
    }
  }
  std::string why;
  BOOST_TEST(r.sandbox_status(confined({"/nonexistent/uvreap"}), nullptr, &why).value() == ENOENT);
  BOOST_TEST(why.find("/nonexistent/uvreap") != std::string::npos, why);
  BOOST_TEST(!r.sandbox_status(confined(), nullptr, &why));
  BOOST_TEST(open_fd_count() == fds_before);
  BOOST_TEST(rec.calls == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// The Landlock ABI through the seam: what an older kernel (or one without Landlock)
// cannot enforce fails with ENOTSUP, or with best_effort is left out and reported.
namespace {
class abi_os : public scripted_os {
 public:
  int abi = 0;
  int landlock_abi() noexcept override { return abi; }
};
struct abi_fixture : loop_fixture {
  abi_os os;
  options opts() {
    options o;
    o.os = &os;
    return o;
  }
};
}  // namespace

// (The best-effort runs build real rulesets at the faked ABI: the kernel must have it.)
BOOST_FIXTURE_TEST_SUITE(sandbox_abi_suite, abi_fixture, *boost::unit_test::precondition(landlock_6))

BOOST_AUTO_TEST_CASE(an_older_abi_refuses_what_it_cannot_enforce_unless_best_effort) {
  reaper r{&loop, opts()};
  recorder rec;
  struct row {
    int abi;
    const char* rule;
    std::function<void(sandbox_options&)> set;
    const char* why;
  };
  const std::vector<row> rows = {
      {0, "files", [](sandbox_options& s) { s.read = {"/usr"}; }, "no Landlock"},
      {2, "truncate", [](sandbox_options& s) { s.write = {"/tmp"}; }, "ABI 3"},
      {3, "network", [](sandbox_options& s) { s.network = false; }, "ABI 4"},
      {5, "scopes", [](sandbox_options& s) { s.scope_signals = true; }, "ABI 6"},
  };
  const int fds_before = open_fd_count();
  for (const row& w : rows) {
    BOOST_TEST_CONTEXT(w.rule << " at ABI " << w.abi) {
      os.abi = w.abi;
      sandbox_options s;
      w.set(s);
      std::string why;
      BOOST_TEST(r.sandbox_status(s, nullptr, &why).value() == ENOTSUP);
      BOOST_TEST(why.find(w.why) != std::string::npos, why);
      spawn_options o;
      o.argv = {"/bin/true"};
      o.sandbox = s;
      std::error_code ec;
      BOOST_TEST(r.spawn(o, rec.cb(), ec) == -1);
      BOOST_TEST(ec.value() == ENOTSUP);
      BOOST_TEST(children_census().empty());

      // best_effort: the child runs, and its exit says what was left out.
      o.sandbox->best_effort = true;
      o.sandbox->read.push_back("/");  // whatever ABI, /bin/true can start
      const auto before = rec.calls;
      const pid_t pid = r.spawn(o, rec.cb(), ec);
      BOOST_REQUIRE_MESSAGE(pid > 0, ec.message());
      BOOST_REQUIRE(run_until([&] { return rec.calls == before + 1; }));
      const exit_status& st = rec.by_pid.at(pid).back();
      BOOST_TEST(st.success());
      const sandbox_report& rep = st.sandbox_info();
      BOOST_TEST(rep.requested);
      BOOST_TEST(rep.landlock_abi == w.abi);
      BOOST_TEST(rep.no_new_privs);
      BOOST_TEST(rep.filesystem == (w.abi >= 1));
      BOOST_TEST(rep.truncate == (w.abi >= 3));
      BOOST_TEST(!rep.network);
      BOOST_TEST(!rep.scopes);
    }
  }
  BOOST_TEST(open_fd_count() == fds_before);
}

BOOST_AUTO_TEST_CASE(a_failed_restriction_in_the_child_fails_the_spawn) {
  reaper r{&loop, opts()};
  os.abi = landlock_abi();
  for (auto step : {detail::child_step::sandbox, detail::child_step::seccomp}) {
    os.child_fault = {step, EPERM};
    spawn_options o;
    o.argv = {"/bin/true"};
    o.sandbox = sandbox_options{};
    o.sandbox->read = {"/"};
    o.sandbox->seccomp = true;
    o.sandbox->best_effort = true;
    std::error_code ec;
    BOOST_TEST(r.spawn(o, [](const exit_status&) {}, ec) == -1);
    BOOST_TEST(ec.value() == EPERM);
    BOOST_TEST(children_census().empty());
  }
}

BOOST_AUTO_TEST_SUITE_END()
