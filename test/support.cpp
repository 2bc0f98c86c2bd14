// SPDX-License-Identifier: MIT
// uvreap tests: fixtures and helpers shared by every suite.
#include "support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace uvreap::test {

namespace {

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("readlink /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

namespace {
uvreap::policy g_policy = uvreap::policy::own;
}  // namespace

boost::test_tools::assertion_result policy_is_not_all(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(test_policy() != uvreap::policy::all);
  r.message() << "not under policy all";
  return r;
}

boost::test_tools::assertion_result policy_is_all(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(test_policy() == uvreap::policy::all);
  r.message() << "only under policy all";
  return r;
}

boost::test_tools::assertion_result running_as_root(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() == 0);
  r.message() << "needs root";
  return r;
}

uvreap::policy test_policy() {
  return g_policy;
}
void set_test_policy(uvreap::policy p) {
  g_policy = p;
}
uvreap::options test_options() {
  uvreap::options o;
  o.reap_policy = g_policy;
  return o;
}

std::vector<std::string> helper(std::vector<std::string> args) {
  static const std::string exe = self_exe();
  std::vector<std::string> argv{exe, "--child"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

spawn_options helper_options(std::vector<std::string> args) {
  spawn_options o;
  o.argv = helper(std::move(args));
  return o;
}

// The shell, not this binary: storms keep thousands of these alive at once, and a
// sanitizer build of this binary costs megabytes per process where dash costs little.
spawn_options gated_helper(const gate& g, int code) {
  spawn_options o;
  o.argv = {"/bin/sh", "-c", "read _; exit " + std::to_string(code)};
  o.stdio_map[0] = stdio::from_fd(g.read_fd());
  return o;
}

pid_t spawn_gated(const gate& g, int code) {
  const std::string script = "read _; exit " + std::to_string(code);
  char sh[] = "/bin/sh";
  char dash_c[] = "-c";
  char* argv[] = {sh, dash_c, const_cast<char*>(script.c_str()), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, g.read_fd(), 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  pid_t pid = -1;
  const int e = ::posix_spawn(&pid, sh, &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(e));
  return pid;
}

// ---- gate ----

gate::gate() {
  if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
}

gate::~gate() {
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void gate::open() {
  if (fds_[1] >= 0) {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
}

void gate::child_wait_and_exit(int code) const noexcept {
  // Hold nothing but our read end: a forked child that kept another gate's write end
  // (another test thread's, say) would keep that gate shut.
  const unsigned r = static_cast<unsigned>(fds_[0]);
  if (r > 3) ::close_range(3, r - 1, 0);
  ::close_range(r + 1, ~0u, 0);
  char c;
  while (::read(fds_[0], &c, 1) < 0 && errno == EINTR) {
  }
  ::_exit(code);
}

pid_t fork_gated(const gate& g, int code) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) g.child_wait_and_exit(code);
  return pid;
}

pid_t fork_exiting(int code) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) ::_exit(code);
  return pid;
}

void wait_until_zombie(pid_t pid) {
  siginfo_t si{};
  int r;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  if (r != 0) throw std::runtime_error(std::string("waitid: ") + std::strerror(errno));
}

// ---- census ----

pipe_pair::pipe_pair() {
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  rd = fds[0];
  wr = fds[1];
}
pipe_pair::~pipe_pair() {
  close_write();
  if (rd >= 0) ::close(rd);
}
void pipe_pair::close_write() {
  if (wr >= 0) ::close(wr);
  wr = -1;
}

std::string read_to_eof(int fd, std::chrono::milliseconds deadline) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    BOOST_REQUIRE_MESSAGE(left.count() > 0, "no EOF before the deadline");
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    BOOST_REQUIRE(n >= 0);
    if (n == 0) continue;
    char buf[256];
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    BOOST_REQUIRE(r >= 0);
    if (r == 0) return out;
    out.append(buf, static_cast<std::size_t>(r));
  }
}

std::string read_line(int fd) {
  std::string out;
  char c;
  for (;;) {
    const ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    BOOST_REQUIRE(r == 1);
    if (c == '\n') return out;
    out += c;
  }
}

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

spawn_options shell(const std::string& script) {
  spawn_options o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

void hold_loop_thread(std::chrono::milliseconds how_long) {
  // Blocked, not spinning: on a loaded machine the time passes all the same, and the
  // CPU goes to the children the test is waiting for.
  const auto end = std::chrono::steady_clock::now() + how_long;
  for (auto now = std::chrono::steady_clock::now(); now < end;
       now = std::chrono::steady_clock::now()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now);
    ::poll(nullptr, 0, static_cast<int>(left.count()) + 1);
  }
}

std::vector<pid_t> children_census() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/children");
    pid_t p;
    while (f >> p)
      out.push_back(p);
  }
  ::closedir(d);
  return out;
}

bool no_zombies() {
  siginfo_t si{};
  int r;
  do {
    r = ::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  return (r < 0 && errno == ECHILD) || (r == 0 && si.si_pid == 0);
}

int open_fd_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory stream's own fd
}

// ---- loop fixture ----

void close_every_handle(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h) == 0) uv_close(h, nullptr);
      },
      nullptr);
}

loop_fixture::loop_fixture() {
  BOOST_REQUIRE_EQUAL(uv_loop_init(&loop), 0);
}

loop_fixture::~loop_fixture() {
  // Whatever a failed test left open is closed here so the next test starts clean; the
  // check below still reports it.
  const bool all_closed = run_to_completion(std::chrono::seconds{30});
  int busy = uv_loop_close(&loop);
  BOOST_CHECK_MESSAGE(all_closed && busy == 0, "handles left open on the loop");
  if (busy != 0) {
    close_every_handle(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  BOOST_CHECK_MESSAGE(no_zombies(), "a zombie child was left behind");
  const auto left = children_census();
  BOOST_CHECK_MESSAGE(left.empty(), "children left running: " << left.size());
  for (pid_t p : left) {  // do not poison the next test
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
  }
}

namespace {
struct watchdog {
  uv_timer_t timer{};
  bool fired = false;
  watchdog(uv_loop_t* loop, std::chrono::milliseconds ms, bool ref) {
    uv_timer_init(loop, &timer);
    timer.data = this;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          static_cast<watchdog*>(t->data)->fired = true;
          uv_stop(t->loop);
        },
        static_cast<std::uint64_t>(ms.count()), 0);
    if (!ref) uv_unref(reinterpret_cast<uv_handle_t*>(&timer));
  }
  ~watchdog() {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_run(timer.loop, UV_RUN_NOWAIT);  // lets the close callback phase release it
  }
};
}  // namespace

bool loop_fixture::run_until(const std::function<bool()>& done,
                             std::chrono::milliseconds deadline) {
  uv_update_time(&loop);
  watchdog w(&loop, deadline, true);
  // done() may turn true in a callback of an early phase (a timer) while nothing wakes
  // the poll that follows: a prepare handle asks before every poll and stops the loop.
  struct asker {
    uv_prepare_t prepare{};
    const std::function<bool()>* done;
  } a{{}, &done};
  uv_prepare_init(&loop, &a.prepare);
  a.prepare.data = &a;
  uv_prepare_start(&a.prepare, [](uv_prepare_t* p) {
    if ((*static_cast<asker*>(p->data)->done)()) uv_stop(p->loop);
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&a.prepare));
  while (!done() && !w.fired)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&a.prepare), nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);  // lets the close callback phase release it
  BOOST_CHECK_MESSAGE(!w.fired, "deadline passed while waiting on the loop");
  return !w.fired;
}

void loop_fixture::run_for(std::chrono::milliseconds window) {
  uv_update_time(&loop);
  watchdog w(&loop, window, true);
  while (!w.fired)
    uv_run(&loop, UV_RUN_ONCE);
}

void loop_fixture::run_in_callback(const std::function<void()>& fn) {
  struct call {
    uv_timer_t timer{};
    const std::function<void()>* fn;
    bool ran = false;
  } c{{}, &fn};
  uv_timer_init(&loop, &c.timer);
  c.timer.data = &c;
  uv_timer_start(
      &c.timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<call*>(t->data);
        (*self->fn)();
        self->ran = true;
      },
      0, 0);
  run_until([&] { return c.ran; });
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);  // lets the close callback phase release it
}

bool loop_fixture::run_nowait_until(const std::function<bool()>& done,
                                    std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) {
      BOOST_CHECK_MESSAGE(false, "deadline passed while waiting on the loop");
      return false;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!done()) std::this_thread::yield();
  }
  return true;
}

bool loop_fixture::run_to_completion(std::chrono::milliseconds deadline) {
  uv_update_time(&loop);
  bool fired;
  {
    watchdog w(&loop, deadline, false);
    uv_run(&loop, UV_RUN_DEFAULT);
    fired = w.fired;
  }
  return !fired;
}

pipe_text::pipe_text(uv_loop_t* loop) {
  BOOST_REQUIRE(uv_pipe_init(loop, &pipe, 0) == 0);
  pipe.data = this;
}

void pipe_text::start() {
  BOOST_REQUIRE(uv_read_start(
                    reinterpret_cast<uv_stream_t*>(&pipe),
                    [](uv_handle_t*, size_t, uv_buf_t* b) {
                      static char buf[4096];
                      *b = uv_buf_init(buf, sizeof buf);
                    },
                    [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                      auto* self = static_cast<pipe_text*>(s->data);
                      if (n > 0) self->text.append(b->base, static_cast<std::size_t>(n));
                      if (n < 0) uv_read_stop(s);
                    }) == 0);
}

void pipe_text::finish(loop_fixture& fx) {
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe),
           [](uv_handle_t* h) { static_cast<pipe_text*>(h->data)->closed_ = true; });
  BOOST_REQUIRE(fx.run_until([&] { return closed_; }));
}

}  // namespace uvreap::test
