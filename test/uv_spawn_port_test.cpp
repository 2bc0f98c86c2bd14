// SPDX-License-Identifier: MIT
// uvreap tests: libuv's own spawn suite (test/test-spawn.c), the cases that apply to
// Linux, rewritten for reaper::spawn. Each test is named after the libuv test whose
// behaviour it checks; the suite runs under every policy.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
namespace fs = std::filesystem;

namespace {

constexpr uid_t kNobody = 65534;

// A uv_pipe_t that collects what it reads until EOF.
struct reader {
  uv_pipe_t pipe{};
  std::string data;
  bool eof = false;
  int error = 0;

  explicit reader(uv_loop_t* loop) { BOOST_REQUIRE(uv_pipe_init(loop, &pipe, 0) == 0); }
  void start() {
    pipe.data = this;
    BOOST_REQUIRE(uv_read_start(
                      stream(),
                      [](uv_handle_t*, size_t, uv_buf_t* b) {
                        static char buf[4096];
                        *b = uv_buf_init(buf, sizeof buf);
                      },
                      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                        auto* self = static_cast<reader*>(s->data);
                        if (n > 0) self->data.append(b->base, static_cast<std::size_t>(n));
                        if (n == UV_EOF) self->eof = true;
                        if (n < 0 && n != UV_EOF) self->error = static_cast<int>(n);
                        if (n < 0) uv_read_stop(s);
                      }) == 0);
  }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&pipe); }
  void close() {
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe)) == 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
    }
  }
  // The handle lives here: its close completes before it goes (close callbacks run
  // without waiting for I/O).
  ~reader() {
    close();
    uv_run(pipe.loop, UV_RUN_NOWAIT);
  }
};

struct port_fixture : loop_fixture {
  reaper r{&loop, test_options()};
  std::optional<exit_status> got;

  pid_t start(const spawn_options& o) {
    std::error_code ec;
    const pid_t pid = r.spawn(
        o, [this](const exit_status& s) { got = s; }, ec);
    BOOST_REQUIRE_MESSAGE(pid > 0, "spawn failed: " << ec.message());
    return pid;
  }
  exit_status wait_exit() {
    BOOST_REQUIRE(run_until([&] { return got.has_value(); }));
    return *got;
  }
  int code_of(const spawn_options& o) {
    start(o);
    const exit_status s = wait_exit();
    BOOST_REQUIRE(s.exited());
    return s.code();
  }
  ~port_fixture() {
    r.close(close_options::kill_children());
    run_to_completion();
  }
};

// Runs `body` in a forked child that has dropped to user and group nobody, with a loop
// and a reaper of its own; returns the child's exit code (body's result).
int as_nobody(const std::function<int(reaper&)>& body) {
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      ::_exit(100);
    }
    uv_loop_t l;
    if (uv_loop_init(&l) != 0) ::_exit(101);
    int rc = 102;
    {
      options o = test_options();
      o.reap_policy = policy::own;  // an `all` claim is the parent's, inherited
      reaper rr{&l, o};
      rc = body(rr);
      rr.close(close_options::kill_children());
      uv_run(&l, UV_RUN_DEFAULT);
    }
    ::_exit(rc);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

// A child that runs until it is killed.
spawn_options gated_helper_forever() {
  spawn_options o;
  o.argv = {"/bin/sleep", "3600"};
  return o;
}

// As nobody, a spawn that asks for root's uid or gid is refused with EPERM, no child left.
// Needs root, to drop to nobody first (the callers' precondition).
void refused_as_nobody(void (*ask)(spawn_options&)) {
  const int rc = as_nobody([ask](reaper& rr) {
    auto o = helper_options({"exit", "0"});
    ask(o);
    std::error_code ec;
    const pid_t pid = rr.spawn(
        o, [](const exit_status&) {}, ec);
    return pid == -1 && ec == std::errc::operation_not_permitted && no_zombies() ? 0 : 1;
  });
  BOOST_TEST(rc == 0);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(uv_spawn_suite, port_fixture)

BOOST_AUTO_TEST_CASE(spawn_exit_code) {
  BOOST_TEST(code_of(helper_options({"exit", "42"})) == 42);
}

BOOST_AUTO_TEST_CASE(spawn_fails) {
  const int fds = open_fd_count();
  std::error_code ec;
  auto o = helper_options({"exit", "0"});
  o.argv[0] = "/no/such/uvreap-program";
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec == std::errc::no_such_file_or_directory);
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds);
}

BOOST_AUTO_TEST_CASE(spawn_fails_check_for_waitpid_cleanup) {
  // A failed exec leaves no zombie and nothing for the reaper to deliver, with pipes.
  reader out{&loop};
  const int fds = open_fd_count();
  auto o = helper_options({"exit", "0"});
  o.argv[0] = "/no/such/uvreap-program";
  o.stdio_map[1] = stdio::pipe(&out.pipe, stdio::flow::from_child);
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec == std::errc::no_such_file_or_directory);
  BOOST_TEST(open_fd_count() == fds);
  BOOST_TEST(no_zombies());
  BOOST_TEST(r.size() == 0u);
  out.close();
}

BOOST_AUTO_TEST_CASE(spawn_empty_env) {
  auto o = helper_options({"env-count"});
  o.env = std::vector<std::string>{};
  BOOST_TEST(code_of(o) == 0);
}

BOOST_AUTO_TEST_CASE(spawn_stdout) {
  reader out{&loop};
  auto o = helper_options({"write", "hello world\n"});
  o.stdio_map[1] = stdio::pipe(&out.pipe, stdio::flow::from_child);
  start(o);
  out.start();
  BOOST_REQUIRE(run_until([&] { return got.has_value() && out.eof; }));
  BOOST_TEST(got->code() == 0);
  BOOST_TEST(out.data == "hello world\n");
  out.close();
}

BOOST_AUTO_TEST_CASE(spawn_stdin) {
  reader out{&loop};
  uv_pipe_t in;
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  auto o = helper_options({"echo"});
  o.stdio_map[0] = stdio::pipe(&in, stdio::flow::to_child);
  o.stdio_map[1] = stdio::pipe(&out.pipe, stdio::flow::from_child);
  start(o);
  out.start();
  static char text[] = "hello-from-spawn_stdin";
  uv_buf_t buf = uv_buf_init(text, sizeof text - 1);
  uv_write_t w;
  BOOST_REQUIRE(
      uv_write(&w, reinterpret_cast<uv_stream_t*>(&in), &buf, 1, [](uv_write_t* req, int) {
        uv_close(reinterpret_cast<uv_handle_t*>(req->handle), nullptr);
      }) == 0);
  BOOST_REQUIRE(run_until([&] { return got.has_value() && out.eof; }));
  BOOST_TEST(got->code() == 0);
  BOOST_TEST(out.data == text);
  out.close();
  uv_run(&loop, UV_RUN_NOWAIT);  // `in`'s close completes while it lives
}

BOOST_AUTO_TEST_CASE(spawn_stdio_greater_than_3) {
  reader fd3{&loop};
  auto o = helper_options({"write-fd", "3", "fourth"});
  o.stdio_map.push_back(stdio::pipe(&fd3.pipe, stdio::flow::from_child));
  start(o);
  fd3.start();
  BOOST_REQUIRE(run_until([&] { return got.has_value() && fd3.eof; }));
  BOOST_TEST(got->code() == 0);
  BOOST_TEST(fd3.data == "fourth");
  fd3.close();
}

BOOST_AUTO_TEST_CASE(spawn_inherit_fd_above_gaps) {
  // fds 3 and 4 closed, 5 a pipe: only what the list names is open in the child.
  reader fd5{&loop};
  auto o = helper_options({"write-fd", "5", "sixth"});
  o.stdio_map.push_back(stdio::none());
  o.stdio_map.push_back(stdio::none());
  o.stdio_map.push_back(stdio::pipe(&fd5.pipe, stdio::flow::from_child));
  start(o);
  fd5.start();
  BOOST_REQUIRE(run_until([&] { return got.has_value() && fd5.eof; }));
  BOOST_TEST(got->code() == 0);
  BOOST_TEST(fd5.data == "sixth");
  fd5.close();
  got.reset();
  auto probe = helper_options({"fd-open", "3"});
  probe.stdio_map.push_back(stdio::none());
  probe.stdio_map.push_back(stdio::null());
  BOOST_TEST(code_of(probe) == 1);  // 3 is not open
}

BOOST_AUTO_TEST_CASE(spawn_stdout_and_stderr_to_file) {
  const fs::path file = fs::temp_directory_path() / ("uvreap-port-" + std::to_string(::getpid()));
  const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  BOOST_REQUIRE(fd >= 0);
  auto o = helper_options({"write-both", "abc"});
  o.stdio_map[1] = stdio::from_fd(fd);
  o.stdio_map[2] = stdio::from_fd(fd);
  BOOST_TEST(code_of(o) == 0);
  ::close(fd);
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(content == "abcabc");
  fs::remove(file);
}

BOOST_AUTO_TEST_CASE(spawn_ignored_stdio) {
  auto o = helper_options({"stdin-eof"});
  o.stdio_map.clear();  // 0-2 without an entry: /dev/null
  BOOST_TEST(code_of(o) == 0);
  got.reset();
  auto f = helper_options({"fds"});
  f.stdio_map.clear();
  BOOST_TEST(code_of(f) == 0);
}

BOOST_AUTO_TEST_CASE(spawn_and_kill_with_std) {
  reader out{&loop};
  reader err{&loop};
  uv_pipe_t in;
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  auto o = helper_options({"echo"});
  o.stdio_map[0] = stdio::pipe(&in, stdio::flow::to_child);
  o.stdio_map[1] = stdio::pipe(&out.pipe, stdio::flow::from_child);
  o.stdio_map[2] = stdio::pipe(&err.pipe, stdio::flow::from_child);
  const pid_t pid = start(o);
  out.start();
  err.start();
  r.kill(pid, SIGTERM);
  const exit_status s = wait_exit();
  BOOST_TEST(s.signaled());
  BOOST_TEST(s.signal() == SIGTERM);
  BOOST_REQUIRE(run_until([&] { return out.eof && err.eof; }));
  uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);
}

BOOST_AUTO_TEST_CASE(spawn_setuid_setgid, *precondition(running_as_root)) {
  auto o = helper_options({"ids", std::to_string(kNobody), std::to_string(kNobody)});
  o.uid = kNobody;
  o.gid = kNobody;
  BOOST_TEST(code_of(o) == 0);  // and no supplementary group survived
}

BOOST_AUTO_TEST_CASE(spawn_setuid_fails, *precondition(running_as_root)) {
  refused_as_nobody([](spawn_options& o) { o.uid = 0; });
}

BOOST_AUTO_TEST_CASE(spawn_setgid_fails, *precondition(running_as_root)) {
  refused_as_nobody([](spawn_options& o) { o.gid = 0; });
}

BOOST_AUTO_TEST_CASE(spawn_closed_process_io) {
  uv_pipe_t in;
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  auto o = helper_options({"stdin-eof"});
  o.stdio_map[0] = stdio::pipe(&in, stdio::flow::to_child);
  start(o);
  uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);  // the child reads EOF
  const exit_status s = wait_exit();
  BOOST_TEST(s.code() == 0);
  uv_run(&loop, UV_RUN_NOWAIT);
}

BOOST_AUTO_TEST_CASE(spawn_inherit_streams) {
  // The child's stdin and stdout are the fds of two open libuv pipes of ours.
  int a[2];
  int b[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
  uv_pipe_t child_in;
  uv_pipe_t child_out;
  BOOST_REQUIRE(uv_pipe_init(&loop, &child_in, 0) == 0);
  BOOST_REQUIRE(uv_pipe_init(&loop, &child_out, 0) == 0);
  BOOST_REQUIRE(uv_pipe_open(&child_in, a[1]) == 0);
  BOOST_REQUIRE(uv_pipe_open(&child_out, b[1]) == 0);
  auto o = helper_options({"echo"});
  o.stdio_map[0] = stdio::from_stream(reinterpret_cast<uv_stream_t*>(&child_in));
  o.stdio_map[1] = stdio::from_stream(reinterpret_cast<uv_stream_t*>(&child_out));
  start(o);
  // Our copies of the child's ends go, so that EOF reaches each side.
  uv_close(reinterpret_cast<uv_handle_t*>(&child_in), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&child_out), nullptr);
  BOOST_REQUIRE(::write(a[0], "streams", 7) == 7);
  ::close(a[0]);
  BOOST_REQUIRE(run_until([&] { return got.has_value(); }));
  BOOST_TEST(got->code() == 0);
  BOOST_TEST(read_to_eof(b[0]) == "streams");
  ::close(b[0]);
  uv_run(&loop, UV_RUN_NOWAIT);
}

BOOST_AUTO_TEST_CASE(stdio_from_libuv_streams_is_blocking_in_the_child) {
  // uv_spawn's rule: libuv's streams are O_NONBLOCK, the child's stdio is not, unless a
  // pipe asks for it. (A child reading a non-blocking stdin gets EAGAIN.)
  int a[2];
  int b[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
  BOOST_REQUIRE(::pipe2(b, O_CLOEXEC | O_NONBLOCK) == 0);
  uv_pipe_t in;
  BOOST_REQUIRE(uv_pipe_init(&loop, &in, 0) == 0);
  BOOST_REQUIRE(uv_pipe_open(&in, a[1]) == 0);  // libuv makes it non-blocking
  BOOST_REQUIRE((::fcntl(a[1], F_GETFL) & O_NONBLOCK) != 0);
  reader err{&loop};
  auto o = helper_options({"nonblocking-fds"});
  o.stdio_map[0] = stdio::from_stream(reinterpret_cast<uv_stream_t*>(&in));
  o.stdio_map[1] = stdio::from_fd(b[1]);
  o.stdio_map[2] = stdio::pipe(&err.pipe, stdio::flow::from_child);
  o.stdio_map[2].nonblocking = true;
  start(o);
  const exit_status s = wait_exit();
  BOOST_TEST(s.code() == 4);  // only fd 2, the pipe that asked for it
  // The flag is the open file's: the parent's fds for it are blocking now too.
  BOOST_TEST((::fcntl(a[1], F_GETFL) & O_NONBLOCK) == 0);
  BOOST_TEST((::fcntl(b[1], F_GETFL) & O_NONBLOCK) == 0);
  uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);
  ::close(a[0]);
  ::close(b[0]);
  ::close(b[1]);
  uv_run(&loop, UV_RUN_NOWAIT);
}

BOOST_AUTO_TEST_CASE(spawn_fs_open) {
  // Files the parent has open, CLOEXEC or not, do not reach the child.
  const int ce = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int plain = ::open("/dev/null", O_RDONLY);
  BOOST_REQUIRE(ce >= 0);
  BOOST_REQUIRE(plain >= 0);
  BOOST_TEST(code_of(helper_options({"fds"})) == 0);
  ::close(ce);
  ::close(plain);
}

BOOST_AUTO_TEST_CASE(spawn_reads_child_path) {
  // The program is looked up in the PATH the child is given.
  const fs::path self = helper({"exit", "7"})[0];
  auto o = helper_options({"exit", "7"});
  o.argv[0] = self.filename().string();
  o.env = std::vector<std::string>{"PATH=/nonexistent:" + self.parent_path().string()};
  BOOST_TEST(code_of(o) == 7);
}

BOOST_AUTO_TEST_CASE(spawn_detached) {
  auto o = helper_options({"sid"});
  o.new_session = true;
  BOOST_TEST(code_of(o) == 0);
}

BOOST_AUTO_TEST_CASE(spawn_umask_rlimits_pdeathsig_groups) {
  auto u = helper_options({"umask"});
  u.umask = 027;
  BOOST_TEST(code_of(u) == 027);
  got.reset();
  rlimit now{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
  auto n = helper_options({"nofile"});
  n.rlimits.push_back({RLIMIT_NOFILE, 200, now.rlim_max});
  BOOST_TEST(code_of(n) == 200);
  got.reset();
  auto p = helper_options({"pdeathsig"});
  p.parent_death_signal = SIGUSR1;
  BOOST_TEST(code_of(p) == SIGUSR1);
  if (::geteuid() == 0) {
    got.reset();
    auto g = helper_options({"groups"});
    g.groups = std::vector<gid_t>{1, 2, 3};
    BOOST_TEST(code_of(g) == 3);
  }
}

BOOST_AUTO_TEST_CASE(pdeathsig_comes_when_the_spawning_thread_exits) {
  // The documented trap of PR_SET_PDEATHSIG: it follows the thread that spawned, not the
  // process. A thread spawns a child that would wait forever, then ends.
  pid_t pid = -1;
  std::thread t([&] {
    auto o = gated_helper_forever();
    o.parent_death_signal = SIGKILL;
    std::error_code ec;
    pid = r.spawn(
        o, [this](const exit_status& s) { got = s; }, ec);
  });
  t.join();
  BOOST_REQUIRE(pid > 0);
  const exit_status s = wait_exit();
  BOOST_TEST(s.pid() == pid);
  BOOST_TEST(s.signaled());
  BOOST_TEST(s.signal() == SIGKILL);
}

BOOST_AUTO_TEST_CASE(a_pipe_spawned_from_another_thread_opens_on_that_thread) {
  // The thread has a loop of its own; its pipe is opened on it, the exit comes to ours.
  std::string output;
  std::thread t([&] {
    uv_loop_t l;
    BOOST_REQUIRE(uv_loop_init(&l) == 0);
    {
      reader out{&l};
      auto o = helper_options({"write", "from a thread"});
      o.stdio_map[1] = stdio::pipe(&out.pipe, stdio::flow::from_child);
      std::error_code ec;
      const pid_t pid = r.spawn(
          o, [this](const exit_status& s) { got = s; }, ec);
      if (pid > 0) {
        out.start();
        while (!out.eof && out.error == 0)
          uv_run(&l, UV_RUN_ONCE);
      }
      output = out.data;
    }
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
  });
  // The exit comes to our loop; the thread finishes on its own (nothing of it wakes us).
  BOOST_REQUIRE(run_until([&] { return got.has_value(); }));
  t.join();
  BOOST_TEST(got->code() == 0);
  BOOST_TEST(output == "from a thread");
}

BOOST_AUTO_TEST_CASE(a_script_without_shebang_runs_through_sh_with_shell_fallback) {
  // libuv execs with execvp, which runs such a file with /bin/sh; uvreap does when asked.
  const fs::path script =
      fs::temp_directory_path() / ("uvreap-noshebang-" + std::to_string(::getpid()));
  {
    std::ofstream f(script);
    f << "exit $(( $# + 40 ))\n";
  }
  fs::permissions(script, fs::perms::owner_all);
  spawn_options o;
  o.argv = {script.string(), "a", "b"};
  std::error_code ec;
  BOOST_TEST(r.spawn(
                 o, [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == ENOEXEC);
  BOOST_TEST(children_census().empty());
  o.shell_fallback = true;
  BOOST_TEST(code_of(o) == 42);  // its two arguments reached it
  fs::remove(script);
}

BOOST_AUTO_TEST_CASE(spawn_bad_options_are_einval) {
  uv_pipe_t p;
  BOOST_REQUIRE(uv_pipe_init(&loop, &p, 0) == 0);
  const auto einval = [&](spawn_options o) {
    std::error_code ec;
    return r.spawn(
               o, [](const exit_status&) {}, ec) == -1 &&
           ec == std::errc::invalid_argument;
  };
  auto twice = helper_options({"exit", "0"});
  twice.stdio_map[1] = stdio::pipe(&p, stdio::flow::from_child);
  twice.stdio_map[2] = stdio::pipe(&p, stdio::flow::from_child);
  BOOST_TEST(einval(twice));
  auto no_pipe = helper_options({"exit", "0"});
  no_pipe.stdio_map[1] = stdio::pipe(nullptr, stdio::flow::from_child);
  BOOST_TEST(einval(no_pipe));
  auto too_many = helper_options({"exit", "0"});
  too_many.stdio_map.resize(1025);
  BOOST_TEST(einval(too_many));
  auto bad_rlimit = helper_options({"exit", "0"});
  bad_rlimit.rlimits.push_back({RLIMIT_NOFILE, 10, 5});
  BOOST_TEST(einval(bad_rlimit));
  auto bad_umask = helper_options({"exit", "0"});
  bad_umask.umask = 01000;
  BOOST_TEST(einval(bad_umask));
  auto bad_sig = helper_options({"exit", "0"});
  bad_sig.parent_death_signal = NSIG;
  BOOST_TEST(einval(bad_sig));
  auto no_group = helper_options({"exit", "0"});
  no_group.foreground_terminal = true;  // needs a group of its own
  BOOST_TEST(einval(no_group));
  BOOST_TEST(children_census().empty());
  uv_close(reinterpret_cast<uv_handle_t*>(&p), nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);
}

BOOST_AUTO_TEST_SUITE_END()
