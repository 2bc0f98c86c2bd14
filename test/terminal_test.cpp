// SPDX-License-Identifier: MIT
// uvreap tests: children on a terminal of their own (spawn_options::terminal) — what the
// child sees (`tty`, `stty size`, its session and foreground group), resize and SIGWINCH,
// Ctrl-C and Ctrl-Z through the line discipline, an interactive bash's job control, the
// output written just before exit read to the last byte, a thousand terminals with no
// thread added, close and time limits with terminals alive, bad options refused. The
// meson tests run the suite under each reap policy.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "scripted_os.hpp"
#include "support.hpp"
#include "uvreap/reaper.hpp"

using namespace uvreap;
using namespace uvreap::test;
using namespace std::chrono_literals;

namespace {

// The parent's end of one child's terminal: a uv_pipe_t that keeps what it reads until
// the end of the stream (UV_EIO from a pty master whose slave is closed everywhere).
// Its state lives on the heap until libuv's close callback, which may come after the
// test's scope (the fixture runs the loop at teardown).
class term {
 public:
  struct state {
    uv_pipe_t pipe{};
    std::string out;
    bool ended = false;  // UV_EIO (or UV_EOF)
    int error = 0;       // any other read error
    char buf[65536];
  };

  explicit term(uv_loop_t* loop) : s_(new state) {
    BOOST_REQUIRE(uv_pipe_init(loop, &s_->pipe, 0) == 0);
    s_->pipe.data = s_;
  }
  ~term() { close(); }
  term(const term&) = delete;
  term& operator=(const term&) = delete;

  [[nodiscard]] terminal_options options(int cols = 80, int rows = 24) const {
    return {cols, rows, &s_->pipe};
  }
  [[nodiscard]] uv_pipe_t* pipe() const { return &s_->pipe; }
  [[nodiscard]] const std::string& out() const { return s_->out; }
  [[nodiscard]] bool ended() const { return s_->ended; }
  [[nodiscard]] int error() const { return s_->error; }
  [[nodiscard]] bool has(std::string_view what) const {
    return s_->out.find(what) != std::string::npos;
  }
  [[nodiscard]] std::size_t count(std::string_view what) const {
    std::size_t n = 0;
    for (auto at = s_->out.find(what); at != std::string::npos; at = s_->out.find(what, at + 1))
      ++n;
    return n;
  }
  [[nodiscard]] bool is_open() const {
    uv_os_fd_t fd = -1;
    return uv_fileno(reinterpret_cast<const uv_handle_t*>(&s_->pipe), &fd) == 0;
  }

  void start() {
    BOOST_REQUIRE(uv_read_start(
                      stream(),
                      [](uv_handle_t* h, size_t, uv_buf_t* b) {
                        auto* st = static_cast<state*>(h->data);
                        *b = uv_buf_init(st->buf, sizeof st->buf);
                      },
                      [](uv_stream_t* h, ssize_t n, const uv_buf_t* b) {
                        auto* st = static_cast<state*>(h->data);
                        if (n > 0) st->out.append(b->base, static_cast<std::size_t>(n));
                        if (n == UV_EIO || n == UV_EOF) st->ended = true;
                        if (n < 0 && !st->ended) st->error = static_cast<int>(n);
                        if (n < 0) uv_read_stop(h);
                      }) == 0);
  }

  // Keystrokes for the child.
  void type(std::string text) {
    struct request {
      uv_write_t req{};
      std::string data;
    };
    auto* w = new request;
    w->data = std::move(text);
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    BOOST_REQUIRE(uv_write(&w->req, stream(), &b, 1, [](uv_write_t* req, int status) {
      BOOST_CHECK(status == 0);
      delete reinterpret_cast<request*>(req);
    }) == 0);
  }

  void close() {
    if (s_ == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&s_->pipe),
             [](uv_handle_t* h) { delete static_cast<state*>(h->data); });
    s_ = nullptr;
  }

 private:
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(&s_->pipe); }
  state* s_;
};

spawn_options on_terminal(spawn_options o, const term& t, int cols = 80, int rows = 24) {
  o.terminal = t.options(cols, rows);
  return o;
}

spawn_options command(std::vector<std::string> argv) {
  spawn_options o;
  o.argv = std::move(argv);
  return o;
}

std::size_t thread_count() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/task");
  BOOST_REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(terminal_suite, reaper_fixture)

BOOST_AUTO_TEST_CASE(the_child_sees_a_terminal_of_its_own_of_the_size_given) {
  term t(&loop);
  const pid_t pid = r.spawn(on_terminal(shell("tty; stty size"), t, 100, 30), rec.cb());
  t.start();
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  BOOST_TEST(t.error() == 0);
  BOOST_TEST(t.has("/dev/pts/"));
  BOOST_TEST(t.has("30 100\r\n"));  // the line discipline's ONLCR: a terminal's newline
  BOOST_TEST(rec.by_pid.at(pid).front().success());

  // Fds 0-2 are one terminal, the session's controlling one, its group in the foreground.
  term u(&loop);
  const pid_t p2 = r.spawn(on_terminal(helper_options({"terminal-state"}), u), rec.cb());
  u.start();
  BOOST_REQUIRE(run_until([&] { return u.ended() && rec.calls == 2; }));
  BOOST_TEST(rec.by_pid.at(p2).front().code() == 0);
}

BOOST_AUTO_TEST_CASE(resize_sends_sigwinch_and_the_child_reads_the_new_size) {
  term t(&loop);
  const pid_t pid = r.spawn(on_terminal(helper_options({"winch"}), t, 80, 24), rec.cb());
  t.start();
  BOOST_REQUIRE(run_until([&] { return t.has("ready\r\n"); }));
  r.resize(pid, 132, 43);
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  BOOST_TEST(t.has("size 43 132\r\n"));
  BOOST_TEST(rec.by_pid.at(pid).front().success());
}

BOOST_AUTO_TEST_CASE(ctrl_c_through_the_line_discipline_ends_the_foreground_group_with_sigint) {
  term t(&loop);
  // The spawn returns once the child has exec'd, its terminal set up: the keystroke
  // finds sleep as the terminal's foreground group.
  const pid_t pid = r.spawn(on_terminal(command({"sleep", "100"}), t), rec.cb());
  t.start();
  t.type("\x03");
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  const exit_status& s = rec.by_pid.at(pid).front();
  BOOST_TEST(s.signaled());
  BOOST_TEST(s.signal() == SIGINT);
  BOOST_TEST(t.has("^C"));  // the line discipline's echo of the keystroke
}

BOOST_AUTO_TEST_CASE(an_interactive_bash_stops_a_job_with_ctrl_z_and_resumes_it_with_fg) {
  term t(&loop);
  spawn_options o = on_terminal(command({"/bin/bash", "--norc", "--noprofile", "-i"}), t);
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin", "TERM=dumb", "PS1=$ ", "HOME=/"};
  const pid_t pid = r.spawn(o, rec.cb());
  t.start();
  BOOST_REQUIRE(run_until([&] { return t.has("$ "); }));
  // The job names a marker its own output has and the echoed command line does not.
  const std::string job = "sh -c 'echo job-$((6*7)); read x; echo got-$x; exit 5'";
  t.type(job + "\n");
  BOOST_REQUIRE(run_until([&] { return t.has("job-42"); }));
  t.type("\x1a");  // Ctrl-Z: SIGTSTP to the job's group, which bash put in the foreground
  BOOST_REQUIRE(run_until([&] { return t.has("Stopped"); }));
  // bash prints the command when it stops and when fg resumes it (the echo made one more).
  const std::size_t shown = t.count("read x;");
  t.type("fg\n");
  BOOST_REQUIRE(run_until([&] { return t.count("read x;") > shown; }));
  t.type("hello\n");  // read by the job, now in the foreground again
  BOOST_REQUIRE(run_until([&] { return t.has("got-hello"); }));
  t.type("echo status-$?\n");
  BOOST_REQUIRE(run_until([&] { return t.has("status-5"); }));
  t.type("exit 7\n");
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  BOOST_TEST(rec.by_pid.at(pid).front().code() == 7);
  BOOST_TEST(t.error() == 0);
}

BOOST_AUTO_TEST_CASE(everything_written_just_before_exit_is_read_to_the_last_byte) {
  // Ten children at once, each writing 300,000 bytes as its last act: the master's EIO
  // comes only after all of it.
  constexpr int kChildren = 10;
  std::vector<std::unique_ptr<term>> terms;
  for (int i = 0; i < kChildren; ++i) {
    terms.push_back(std::make_unique<term>(&loop));
    (void)r.spawn(on_terminal(shell("head -c 300000 /dev/zero | tr '\\0' x"), *terms.back()),
                  rec.cb());
    terms.back()->start();
  }
  BOOST_REQUIRE(run_until([&] {
    for (const auto& t : terms)
      if (!t->ended()) return false;
    return rec.calls == kChildren;
  }));
  for (const auto& [pid, st] : rec.by_pid) BOOST_TEST(st.front().success(), to_string(st.front()));
  for (const auto& t : terms) {
    BOOST_TEST(t->error() == 0);
    BOOST_TEST(t->out().size() == 300000u);
    BOOST_TEST(t->out().find_first_not_of('x') == std::string::npos);
  }

  // Read only once the exit callback has run: what the pty holds is still all there.
  term late(&loop);
  (void)r.spawn(on_terminal(shell("head -c 2000 /dev/zero | tr '\\0' y"), late), rec.cb());
  BOOST_REQUIRE(run_until([&] { return rec.calls == kChildren + 1; }));
  late.start();
  BOOST_REQUIRE(run_until([&] { return late.ended(); }));
  BOOST_TEST(late.out() == std::string(2000, 'y'));
}

BOOST_AUTO_TEST_CASE(a_thousand_terminal_children_add_no_thread_and_hang_up_when_closed) {
  constexpr std::size_t kChildren = 1000;
  const std::size_t threads_before = thread_count();
  std::vector<std::unique_ptr<term>> terms;
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < kChildren; ++i) {
    terms.push_back(std::make_unique<term>(&loop));
    pids.push_back(r.spawn(on_terminal(command({"cat"}), *terms.back()), rec.cb()));
  }
  BOOST_TEST(r.size() == kChildren);
  BOOST_TEST(thread_count() == threads_before);
  for (pid_t p : pids)
    BOOST_TEST(::kill(p, 0) == 0);
  // Closing the master hangs the terminal up: each session leader gets SIGHUP — or, when
  // its read wakes first, sees the end of its input and exits (the kernel wakes readers
  // before it signals the session).
  for (auto& t : terms)
    t->close();
  BOOST_REQUIRE(run_until([&] { return rec.calls == kChildren; }, 120s));
  std::size_t hung_up = 0;
  for (pid_t p : pids) {
    const exit_status& s = rec.by_pid.at(p).front();
    BOOST_TEST((s.exited() || (s.signaled() && s.signal() == SIGHUP)), to_string(s));
    if (s.signaled()) ++hung_up;
  }
  BOOST_TEST_MESSAGE(hung_up << " of " << kChildren << " ended by SIGHUP, the rest by their input's end");
  BOOST_TEST(thread_count() == threads_before);
}

BOOST_AUTO_TEST_CASE(close_with_terminals_alive_ends_them_and_their_streams) {
  std::vector<std::unique_ptr<term>> terms;
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    terms.push_back(std::make_unique<term>(&loop));
    pids.push_back(r.spawn(on_terminal(command({"cat"}), *terms.back()), rec.cb()));
    terms.back()->start();
  }
  bool closed = false;
  BOOST_REQUIRE(r.close(close_options::kill_children(), [&] { closed = true; }));
  BOOST_REQUIRE(run_until([&] {
    for (const auto& t : terms)
      if (!t->ended()) return false;
    return closed;
  }));
  BOOST_TEST(rec.calls == 0u);
  for (pid_t p : pids)
    BOOST_TEST(::kill(p, 0) == -1);
  std::error_code ec;
  r.resize(pids[0], 10, 10, ec);
  BOOST_TEST(ec == estale);
}

BOOST_AUTO_TEST_CASE(a_time_limit_ends_a_terminal_child) {
  term t(&loop);
  spawn_options o = on_terminal(command({"cat"}), t);
  // The terminal's session is the child's own group: the limit may signal the group.
  o.time_limit = deadline{100ms, SIGTERM, 5s, true};
  const pid_t pid = r.spawn(o, rec.cb());
  t.start();
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  const exit_status& s = rec.by_pid.at(pid).front();
  BOOST_TEST(s.deadline_fired());
  BOOST_TEST(s.signal() == SIGTERM);
}

BOOST_AUTO_TEST_CASE(bad_terminal_options_are_refused_with_nothing_left_open) {
  pipe_pair p;
  term t(&loop);  // (libuv's first stream of a loop opens a spare fd: counted before)
  const int fds_before = open_fd_count();
  struct variant {
    const char* what;
    spawn_options opts;
  };
  std::vector<variant> bad;
  auto base = [&] { return on_terminal(command({"cat"}), t); };
  for (auto [cols, rows] : {std::pair{0, 24}, {80, 0}, {65536, 24}, {80, 65536}, {-1, 24}}) {
    spawn_options o = base();
    o.terminal->cols = cols;
    o.terminal->rows = rows;
    bad.push_back({"size", o});
  }
  {
    spawn_options o = base();
    o.terminal->handle = nullptr;
    bad.push_back({"no handle", o});
  }
  {
    spawn_options o = base();
    o.new_process_group = true;
    bad.push_back({"new_process_group", o});
  }
  {
    spawn_options o = base();
    o.stdio_map = {stdio::null(), stdio::null(), stdio::null()};
    bad.push_back({"fds 0-2 taken", o});
  }
  {
    spawn_options o = base();
    o.stdio_map.push_back(stdio::pipe(t.pipe(), stdio::flow::from_child));
    bad.push_back({"the handle twice", o});
  }
  for (const variant& v : bad) {
    std::error_code ec;
    BOOST_TEST_CONTEXT(v.what) {
      BOOST_TEST(r.spawn(v.opts, rec.cb(), ec) == -1);
      BOOST_TEST(ec == std::errc::invalid_argument);
      BOOST_TEST(!t.is_open());
    }
  }
  // A handle already open.
  term opened(&loop);
  BOOST_REQUIRE(uv_pipe_open(opened.pipe(), ::dup(p.rd)) == 0);
  std::error_code ec;
  BOOST_TEST(r.spawn(on_terminal(command({"cat"}), opened), rec.cb(), ec) == -1);
  BOOST_TEST(ec == std::errc::invalid_argument);
  opened.close();

  // resize: bad sizes, a child without a terminal, a pid not ours, a child gone.
  term u(&loop);
  const pid_t pid = r.spawn(on_terminal(command({"cat"}), u), rec.cb());
  for (auto [cols, rows] : {std::pair{0, 24}, {80, 0}, {65536, 24}, {80, -3}}) {
    std::error_code e;
    r.resize(pid, cols, rows, e);
    BOOST_TEST(e == std::errc::invalid_argument);
  }
  const pid_t plain = r.spawn(command({"sleep", "100"}), rec.cb());
  std::error_code e;
  r.resize(plain, 80, 24, e);
  BOOST_TEST(e.value() == ENOTTY);
  r.resize(::getpid(), 80, 24, e);
  BOOST_TEST(e.value() == ESRCH);
  r.resize(-1, 80, 24, e);
  BOOST_TEST(e == std::errc::invalid_argument);
  BOOST_CHECK_THROW(r.resize(pid, 0, 0), std::system_error);
  // Its handle closed: the fd is no longer its master, and nothing else is resized.
  u.close();
  r.resize(pid, 80, 24, e);
  BOOST_TEST(e.value() == EBADF);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 1; }));  // hung up
  r.resize(pid, 80, 24, e);
  BOOST_TEST(e.value() == ESRCH);
  r.kill(plain, SIGKILL);
  BOOST_REQUIRE(run_until([&] { return rec.calls == 2; }));
  t.close();  // (libuv closes a stream's fd at uv_close)
  BOOST_TEST(open_fd_count() == fds_before);
}

BOOST_AUTO_TEST_CASE(spawn_async_and_a_spawn_from_another_thread_get_terminals_too) {
  term a(&loop);
  pid_t started = -1;
  r.spawn_async(
      on_terminal(helper_options({"winch"}), a),
      [&](pid_t pid, std::error_code ec) {
        BOOST_TEST(!ec);
        started = pid;
        a.start();
      },
      rec.cb());
  BOOST_REQUIRE(run_until([&] { return a.has("ready\r\n"); }));
  r.resize(started, 70, 50);
  BOOST_REQUIRE(run_until([&] { return a.ended() && rec.calls == 1; }));
  BOOST_TEST(a.has("size 50 70"));

  // From another thread, while the loop is not running (the pipe is opened there).
  term b(&loop);
  pid_t other = -1;
  std::thread([&] { other = r.spawn(on_terminal(helper_options({"winch"}), b), rec.cb()); }).join();
  BOOST_REQUIRE(other > 0);
  b.start();
  BOOST_REQUIRE(run_until([&] { return b.has("ready\r\n") && r.watching(other); }));
  r.resize(other, 90, 20);
  BOOST_REQUIRE(run_until([&] { return b.ended() && rec.calls == 2; }));
  BOOST_TEST(b.has("size 20 90"));
}

BOOST_AUTO_TEST_CASE(master_fd_hands_the_master_over_instead_of_a_handle) {
  int master = -1;
  spawn_options o = shell("stty size; head -c 100000 /dev/zero | tr '\\0' z");
  o.terminal = terminal_options{120, 50, nullptr, &master};
  const pid_t pid = r.spawn(o, rec.cb());
  BOOST_REQUIRE(master >= 0);
  BOOST_TEST((::fcntl(master, F_GETFD) & FD_CLOEXEC) != 0);
  term t(&loop);
  BOOST_REQUIRE(uv_pipe_open(t.pipe(), master) == 0);  // as a Node net.Socket would
  t.start();
  r.resize(pid, 121, 51);  // the reaper knows the fd (stty may run before or after)
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  BOOST_TEST((t.has("50 120\r\n") || t.has("51 121\r\n")));
  BOOST_TEST(t.count("z") == 100000u);

  // Neither, or both: refused, and nothing written.
  term u(&loop);
  int untouched = -7;
  for (const auto& bad : {terminal_options{80, 24, nullptr, nullptr},
                          terminal_options{80, 24, u.pipe(), &untouched}}) {
    spawn_options b = command({"cat"});
    b.terminal = bad;
    std::error_code ec;
    BOOST_TEST(r.spawn(b, rec.cb(), ec) == -1);
    BOOST_TEST(ec == std::errc::invalid_argument);
  }
  BOOST_TEST(untouched == -7);
}

BOOST_AUTO_TEST_CASE(a_contained_tree_lets_the_stream_end_when_the_child_exits) {
  // The background sleep holds the terminal open: without a tree the stream would stay
  // open for 100 s; contained, it is killed with the child's exit and the stream ends.
  term t(&loop);
  spawn_options o = on_terminal(shell("sleep 100 & echo started"), t);
  o.tree = tree::automatic;
  const pid_t pid = r.spawn(o, rec.cb());
  t.start();
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  BOOST_TEST(t.has("started"));
  BOOST_TEST(rec.by_pid.at(pid).front().success());
}

BOOST_AUTO_TEST_CASE(the_parents_stdio_and_other_fds_are_as_stdio_map_says) {
  // stderr to a pipe, fd 3 inherited: only fds 0 and 1 are the terminal.
  term t(&loop);
  pipe_text err(&loop);
  spawn_options o = on_terminal(shell("test -t 0 && test -t 1 && ! test -t 2 && echo ok >&2"), t);
  o.stdio_map = {stdio::inherit(), stdio::inherit(), stdio::pipe(&err.pipe, stdio::flow::from_child)};
  const pid_t pid = r.spawn(o, rec.cb());
  t.start();
  err.start();
  BOOST_REQUIRE(run_until([&] { return t.ended() && rec.calls == 1; }));
  BOOST_TEST(rec.by_pid.at(pid).front().success());
  BOOST_REQUIRE(run_until([&] { return err.text == "ok\n"; }));
  err.finish(*this);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(terminal_seam_suite, seam_fixture)

BOOST_AUTO_TEST_CASE(a_pty_that_cannot_be_opened_fails_the_spawn_with_its_errno) {
  reaper r{&loop, opts()};
  term t(&loop);  // (libuv's first stream of a loop opens a spare fd: counted before)
  const int fds_before = open_fd_count();
  for (int err : {ENOSPC, EMFILE, ENOENT}) {
    os.fail_next(k::k_pty, err);
    std::error_code ec;
    int calls = 0;
    BOOST_TEST(r.spawn(on_terminal(command({"cat"}), t), [&](const exit_status&) { ++calls; },
                       ec) == -1);
    BOOST_TEST(ec.value() == err);
    BOOST_TEST(!t.is_open());
    BOOST_TEST(calls == 0);
  }
  // The child's TIOCSCTTY failing: no child, and the pty closed.
  os.child_fault = {detail::child_step::terminal, EPERM};
  std::error_code ec;
  BOOST_TEST(r.spawn(on_terminal(command({"cat"}), t), [](const exit_status&) {}, ec) == -1);
  BOOST_TEST(ec.value() == EPERM);
  BOOST_TEST(!t.is_open());
  BOOST_TEST(children_census().empty());
  BOOST_TEST(open_fd_count() == fds_before);
}

BOOST_AUTO_TEST_SUITE_END()
