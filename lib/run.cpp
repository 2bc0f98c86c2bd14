// SPDX-License-Identifier: MIT
// uvreap (private): reaper::run — one child spawned with its tree contained, fed from a
// buffer and collected: a run_job per call, on the loop thread, that owns the parent's
// ends (a socket pair for stdin, libuv pipes for stdout and stderr) and calls back once
// the tree's exit has come and both outputs have ended.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "core.hpp"
#include "errno_code.hpp"

namespace uvreap::detail {

class run_job {
 public:
  run_job(core& owner, run_options how, run_callback done) noexcept
      : owner_(owner), how_(std::move(how)), done_(std::move(done)) {}
  run_job(const run_job&) = delete;
  run_job& operator=(const run_job&) = delete;

  uv_pipe_t* out() noexcept { return &out_; }
  uv_pipe_t* err() noexcept { return &err_; }

  // Before the spawn: the handles exist (closed by `drop` whatever happens next).
  int init(uv_loop_t* loop) noexcept {
    for (uv_pipe_t* p : {&out_, &err_}) {
      if (int r = uv_pipe_init(loop, p, 0); r < 0) return r;
      p->data = this;
      ++handles_;
    }
    if (int r = uv_timer_init(loop, &drain_); r < 0) return r;
    drain_.data = this;
    ++handles_;
    return 0;
  }

  // After a successful spawn: read the outputs, write the input.
  void begin(uv_loop_t* loop, int in_fd) noexcept {
    for (uv_pipe_t* p : {&out_, &err_}) {
      if (int r = uv_read_start(reinterpret_cast<uv_stream_t*>(p), on_alloc, on_read); r < 0) {
        owner_.report(r, "uv_read_start of a run's output");
        end_output(p);
      }
    }
    if (in_fd < 0) return;
    in_fd_ = in_fd;
    if (int r = uv_poll_init(loop, &in_poll_, in_fd); r < 0) {
      result_.input_error = errno_code(-r);
      close_input();
      return;
    }
    in_poll_.data = this;
    ++handles_;
    in_poll_open_ = true;
    if (int r = uv_poll_start(&in_poll_, UV_WRITABLE, on_writable); r < 0) {
      result_.input_error = errno_code(-r);
      close_input();
    }
  }

  // The child's exit callback: its tree is gone too (a cgroup is empty by then).
  void exited(const exit_status& s) noexcept {
    result_.status = s;
    exited_ = true;
    if (outputs_done()) {
      finish();
    } else if (how_.drain_after_exit.count() <= 0) {
      on_drain(&drain_);
    } else {
      uv_timer_start(&drain_, on_drain, static_cast<std::uint64_t>(how_.drain_after_exit.count()), 0);
    }
  }

  // Reaper closed: no callback; everything closed.
  void cancel() noexcept {
    finished_ = true;
    close_all();
  }

  // A spawn that failed: the handles go, the job with them.
  void drop() noexcept {
    finished_ = true;
    close_all();
  }

 private:
  static run_job* of(void* data) noexcept { return static_cast<run_job*>(data); }

  bool outputs_done() const noexcept { return out_done_ && err_done_; }

  static void on_alloc(uv_handle_t* h, std::size_t /*suggested*/, uv_buf_t* buf) {
    run_job* j = of(h->data);
    *buf = uv_buf_init(j->buf_, sizeof j->buf_);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    run_job* j = of(s->data);
    if (n == 0) return;  // EAGAIN
    auto* p = reinterpret_cast<uv_pipe_t*>(s);
    if (n < 0) {  // EOF, or an error: the stream is over either way
      j->end_output(p);
      if (j->exited_ && j->outputs_done()) j->finish();
      return;
    }
    const bool is_out = p == &j->out_;
    std::string& text = is_out ? j->result_.out : j->result_.err;
    bool& truncated = is_out ? j->result_.out_truncated : j->result_.err_truncated;
    const auto len = static_cast<std::size_t>(n);
    const std::size_t room = j->how_.max_output > text.size() ? j->how_.max_output - text.size() : 0;
    try {
      text.append(buf->base, std::min(room, len));
    } catch (const std::bad_alloc&) {
      truncated = true;  // kept what fitted in memory
      return;
    }
    if (len > room) truncated = true;
  }

  static void on_writable(uv_poll_t* h, int status, int /*events*/) {
    run_job* j = of(h->data);
    // libuv reports EPOLLERR as UV_EBADF and stops the handle: the child's end is gone
    // (or broken). The send below tells which errno it is (EPIPE, ECONNRESET).
    const bool broken = status < 0;
    const std::string& in = j->how_.input;
    while (j->written_ < in.size()) {
      const ssize_t n = ::send(j->in_fd_, in.data() + j->written_, in.size() - j->written_,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!broken) return;  // the next wake-up
        j->result_.input_error = errno_code(EPIPE);
        break;
      }
      if (n < 0) {
        j->result_.input_error = errno_code(errno);
        break;
      }
      j->written_ += static_cast<std::size_t>(n);
    }
    j->close_input();  // all written (EOF for the child), or failed
  }

  static void on_drain(uv_timer_t* t) {
    run_job* j = of(t->data);
    // The tree is gone but something holds an output open: it left the tree. What the
    // child wrote before it exited is in the pipe whether or not the loop has read it
    // yet: read to EAGAIN first, so that only a leftover's later writes are cut.
    for (uv_pipe_t* p : {&j->out_, &j->err_}) {
      if (p == &j->out_ ? j->out_done_ : j->err_done_) continue;
      j->read_what_is_there(p);
    }
    j->result_.output_cut = !j->outputs_done();
    j->end_output(&j->out_);
    j->end_output(&j->err_);
    j->finish();
  }

  void read_what_is_there(uv_pipe_t* p) noexcept {
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(p), &fd) != 0) return;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(p));
    for (;;) {
      const ssize_t n = ::read(fd, buf_, sizeof buf_);  // libuv made it non-blocking
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0) end_output(p);  // every writer is gone after all
        return;                     // EAGAIN: someone still holds it
      }
      uv_buf_t b = uv_buf_init(buf_, static_cast<unsigned>(n));
      on_read(reinterpret_cast<uv_stream_t*>(p), n, &b);
    }
  }

  static void on_closed(uv_handle_t* h) {
    run_job* j = of(h->data);
    if (h == reinterpret_cast<uv_handle_t*>(&j->in_poll_)) j->release_in_fd();
    if (--j->handles_ == 0 && j->finished_) delete j;
  }

  void end_output(uv_pipe_t* p) noexcept {
    bool& done = p == &out_ ? out_done_ : err_done_;
    if (done) return;
    done = true;
    close_handle(reinterpret_cast<uv_handle_t*>(p));
  }

  void close_input() noexcept {
    if (in_poll_open_) {
      in_poll_open_ = false;
      close_handle(reinterpret_cast<uv_handle_t*>(&in_poll_));  // the fd goes after it
    } else {
      release_in_fd();
    }
  }

  void release_in_fd() noexcept {
    if (in_fd_ >= 0) (void)::close(in_fd_);  // a socket: an error still frees it
    in_fd_ = -1;
  }

  void close_handle(uv_handle_t* h) noexcept {
    if (uv_is_closing(h) == 0) uv_close(h, on_closed);
  }

  void close_all() noexcept {
    end_output(&out_);
    end_output(&err_);
    close_input();
    close_handle(reinterpret_cast<uv_handle_t*>(&drain_));
    if (handles_ == 0) delete this;  // none was ever initialised
  }

  void finish() noexcept {
    if (finished_) return;
    // Input not all written by now was not read by a child that is gone.
    if (!result_.input_error && written_ < how_.input.size() && in_fd_ >= 0) {
      result_.input_error = errno_code(EPIPE);
    }
    owner_.run_ended(this);
    finished_ = true;
    run_callback done = std::move(done_);
    run_result result = std::move(result_);
    close_all();  // may delete this only after its handles' close callbacks: not yet
    owner_.invoke_run(done, result);
  }

  core& owner_;
  run_options how_;
  run_callback done_;
  run_result result_;
  uv_pipe_t out_{};
  uv_pipe_t err_{};
  uv_poll_t in_poll_{};
  uv_timer_t drain_{};
  int in_fd_ = -1;
  bool in_poll_open_ = false;
  std::size_t written_ = 0;
  int handles_ = 0;
  bool exited_ = false;
  bool out_done_ = false;
  bool err_done_ = false;
  bool finished_ = false;
  char buf_[64 * 1024];
};

pid_t core::run(const spawn_options& opts, run_options how, run_callback done,
                std::error_code& ec) noexcept {
  if (ec = check_usable(); ec) return -1;
  if (!on_loop_thread() || !done) {
    ec = errno_code(EINVAL);  // the job's handles belong to the loop thread
    return -1;
  }
  if (ec = ensure_handles(); ec) return -1;
  const bool feed = !how.input.empty();
  const bool contain = how.contain_tree;
  auto* job = new (std::nothrow) run_job(*this, std::move(how), std::move(done));
  if (job == nullptr) {
    ec = errno_code(ENOMEM);
    return -1;
  }
  int sv[2] = {-1, -1};  // stdin: [0] the parent's (non-blocking), [1] the child's
  auto fail = [&](std::error_code e) {
    for (int fd : sv)
      if (fd >= 0) (void)os_.close(fd);
    job->drop();
    ec = e;
    return -1;
  };
  if (int r = job->init(loop_); r < 0) return fail(errno_code(-r));
  if (feed) {
    if (int r = os_.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv); r < 0) {
      return fail(errno_code(-r));
    }
  }
  pid_t pid = -1;
  try {
    runs_.reserve(runs_.size() + 1);
    spawn_options o = opts;
    if (o.stdio_map.size() < 3) o.stdio_map.resize(3, stdio::null());
    o.stdio_map[0] = feed ? stdio::from_fd(sv[1]) : stdio::null();
    o.stdio_map[1] = stdio::pipe(job->out(), stdio::flow::from_child);
    o.stdio_map[2] = stdio::pipe(job->err(), stdio::flow::from_child);
    if (o.tree == uvreap::tree::none && contain) o.tree = uvreap::tree::automatic;
    pid = spawn(o, [job](const exit_status& s) { job->exited(s); }, ec);
  } catch (const std::bad_alloc&) {
    return fail(errno_code(ENOMEM));
  }
  if (pid < 0) return fail(ec);
  (void)os_.close(sv[1]);  // the child has its copy
  runs_.push_back(job);    // room reserved above
  job->begin(loop_, sv[0]);
  return pid;
}

void core::run_ended(run_job* job) noexcept {
  for (std::size_t i = 0; i < runs_.size(); ++i) {
    if (runs_[i] != job) continue;
    runs_[i] = runs_.back();
    runs_.pop_back();
    return;
  }
}

void core::cancel_runs() noexcept {
  std::vector<run_job*> all;
  all.swap(runs_);
  for (run_job* j : all)
    j->cancel();
}

void core::invoke_run(const run_callback& cb, run_result& result) noexcept {
  try {
    cb(result);
  } catch (...) {
    ++stats_.callback_exceptions;
    report_exception(std::current_exception(), result.status.pid());
  }
}

}  // namespace uvreap::detail
