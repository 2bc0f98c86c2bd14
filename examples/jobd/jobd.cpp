// SPDX-License-Identifier: MIT
// uvreap-jobd: a libuv TCP job server. Each request line becomes extra arguments for one
// fixed worker program (no shell; nothing else can be run); each finished job gets one
// JSON line back.
//
//   uvreap-jobd [--listen HOST:PORT] [--max-jobs N] [--timeout-ms T] [--grace-ms G] [--tree M]
//               [--sandbox-read PATH]... [--sandbox-write PATH]... [--no-network]
//               [--max-line BYTES] [--max-output BYTES] [--max-conns N]
//               [--max-conn-jobs N] [--idle-timeout-ms T] [--allow-remote]
//               -- /path/to/worker [fixed args...]
//
// Replies, one line per request, in completion order (`id` counts the connection's
// requests from 1), with what the job wrote to stdout and stderr (read through pipes,
// at most --max-output bytes of each kept; "stdout_truncated" says when more came):
//   {"id":1,"pid":4242,"exited":true,"code":0,"deadline":false,"cpu_ms":1.2,"max_rss_kib":900,
//    "stdout":"...","stdout_truncated":false,"stderr":"","stderr_truncated":false}
//   {"id":2,"pid":4243,"signaled":true,"signal":9,"core":false,"deadline":true,...}
// Output that is not valid UTF-8 comes as "stdout" with U+FFFD for each bad byte and, with
// the exact bytes, "stdout_base64" (stderr the same); a cut at --max-output never splits
// a character of valid UTF-8.
// Each job runs with its whole tree contained (--tree, default auto: a cgroup of its own
// where one can be made, else a process group): its time limit and the SIGTERM shutdown
// end everything it started, what is left when it exits is killed, and --max-jobs counts
// jobs until their trees are gone. The reply says "tree":"cgroup" (with
// "descendants_killed":N) or "process_group" or "none". A job is answered once its tree is
// gone and both pipes are at EOF; only what escaped a process group (a setsid'd daemon)
// or a job run with --tree off can hold them open, and then the reply comes --grace-ms
// after the exit with "output_cut":true.
//   {"id":3,"error":"busy","max_jobs":64}          (and "line too long", "invalid bytes",
//                                                   "empty request", "spawn: <reason>")
// Memory and fds stay bounded whatever a client does: a connection is not read while its
// replies not yet written hold more than 1 MiB or it has --max-conn-jobs jobs running
// (its further requests wait in the socket); one idle for --idle-timeout-ms (no job
// running, nothing sent) is closed; past --max-conns the least recently active
// connection with no job running is closed to admit a new one (when there is none, the
// newcomer gets {"error":"too many connections"} and is closed).
// With --sandbox-read, --sandbox-write or --no-network each job is confined
// (spawn_options::sandbox, no root needed): it reads and executes only beneath the system
// directories (/usr, /lib, /lib64, /bin, /sbin, /etc, where they exist), its worker and
// the --sandbox-read paths, writes only beneath the --sandbox-write paths, has no new
// privileges, a seccomp filter refusing the library's default list (ptrace, mount, bpf,
// ...), and with --no-network no TCP bind or connect. The server refuses to start when
// the kernel cannot enforce that (Landlock ABI 3, 4 with --no-network), saying why; the
// reply says "sandbox":true.
// A last request without its newline is answered too when the client half-closes.
// It prints "listening on HOST:PORT" once bound (PORT 0 picks a free port). SIGTERM or
// SIGINT: stop accepting, kill running jobs, exit 0.
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../common/flags.hpp"
#include "../common/std_fds.hpp"
#include "uvreap/uvreap.hpp"

namespace {

struct config {
  std::string host = "127.0.0.1";
  int port = 0;
  std::size_t max_jobs = 64;
  std::uint64_t timeout_ms = 10000;
  std::uint64_t grace_ms = 1000;
  std::size_t max_line = 4096;
  std::size_t max_output = 65536;
  std::size_t max_conns = 0;  // 0: from RLIMIT_NOFILE (see main)
  std::size_t max_conn_jobs = 16;
  std::uint64_t idle_timeout_ms = 60000;
  bool allow_remote = false;
  uvreap::tree tree = uvreap::tree::automatic;  // --tree
  std::optional<uvreap::sandbox_options> sandbox;  // --sandbox-read/-write, --no-network
  std::vector<std::string> worker;  // program and fixed arguments
};

struct server;

// One client connection. Jobs hold a reference, so a connection whose client vanished
// lives until its last job is reaped (its reply is then dropped).
struct connection : std::enable_shared_from_this<connection> {
  server* srv = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t idle{};        // --idle-timeout-ms
  std::string pending;      // bytes of the current, unfinished line
  std::string backlog;      // read, not parsed yet: reading paused in the middle of a buffer
  bool discarding = false;  // inside an overlong line: drop bytes until its newline
  bool read_eof = false;    // the client half-closed (or vanished)
  bool paused = false;      // not reading: too much unsent, or too many jobs (backpressure)
  bool closed = false;
  int open_handles = 0;
  std::uint64_t next_id = 1;
  std::uint64_t last_active = 0;     // uv_now of the last bytes read
  std::size_t unsent = 0;            // memory held by replies whose write has not completed
  std::size_t running = 0;           // jobs of this connection not yet replied to
  std::shared_ptr<connection> self;  // kept until libuv's close callbacks

  void on_line(std::string_view line);
  void feed(std::string_view data);
  [[nodiscard]] bool must_pause() const;
  void maybe_resume();
  void reply(std::string text);
  void close();
  void maybe_finish();
};

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

// Memory a connection's replies may hold, written or not, before it is no longer read.
constexpr std::size_t kMaxUnsent = 1 << 20;

struct server {
  config cfg;
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener{};
  uv_signal_t sigterm{};
  uv_signal_t sigint{};
  std::unique_ptr<uvreap::reaper> reaper;
  std::size_t running = 0;
  std::vector<std::weak_ptr<connection>> conns;  // pruned of expired ones at each accept
  bool stopping = false;
};

// One running job, collected by reaper::run: answered once its tree is gone and its
// output read.
struct job {
  std::shared_ptr<connection> conn;
  std::uint64_t id = 0;
};

// How many bytes of `s`, from its start, are valid UTF-8 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF). `incomplete_tail` is set when what follows is
// the start of a valid sequence that `s` ends too early to finish.
std::size_t utf8_valid_prefix(std::string_view s, bool* incomplete_tail = nullptr) {
  std::size_t i = 0;
  if (incomplete_tail != nullptr) *incomplete_tail = false;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return i;
    }
    std::size_t k = 1;
    for (; k < len && i + k < s.size(); ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return i;
    }
    if (k < len) {
      if (incomplete_tail != nullptr) *incomplete_tail = true;
      return i;
    }
    i += len;
  }
  return i;
}

std::string base64(std::string_view s) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < s.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, s.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? static_cast<unsigned char>(s[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k)
      out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 0x3f] : '=';
  }
  return out;
}

// A JSON string body. Valid UTF-8 passes unchanged; each byte that is not part of a valid
// character becomes U+FFFD, so the reply is always valid JSON (the caller sends the exact
// bytes alongside, in base64, when that happened).
std::string json_escape(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    const std::size_t ok = utf8_valid_prefix(s);
    for (unsigned char c : s.substr(0, ok)) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    s.remove_prefix(ok);
    if (!s.empty()) {
      out += "\xef\xbf\xbd";  // U+FFFD for one byte that starts no valid character
      s.remove_prefix(1);
    }
  }
  return out;
}

std::string status_json(std::uint64_t id, const uvreap::exit_status& s) {
  char buf[256];
  const double cpu_ms =
      static_cast<double>((s.usage().user_cpu + s.usage().system_cpu).count()) / 1000.0;
  const char* deadline = s.deadline_fired() ? "true" : "false";
  if (s.exited()) {
    std::snprintf(buf, sizeof buf,
                  "{\"id\":%llu,\"pid\":%d,\"exited\":true,\"code\":%d,\"deadline\":%s,"
                  "\"cpu_ms\":%.3f,\"max_rss_kib\":%ld}",
                  static_cast<unsigned long long>(id), s.pid(), s.code(), deadline, cpu_ms,
                  s.usage().max_rss_kib);
  } else if (s.signaled()) {
    std::snprintf(buf, sizeof buf,
                  "{\"id\":%llu,\"pid\":%d,\"signaled\":true,\"signal\":%d,\"core\":%s,"
                  "\"deadline\":%s,\"cpu_ms\":%.3f,\"max_rss_kib\":%ld}",
                  static_cast<unsigned long long>(id), s.pid(), s.signal(),
                  s.core_dumped() ? "true" : "false", deadline, cpu_ms, s.usage().max_rss_kib);
  } else {
    std::snprintf(buf, sizeof buf, "{\"id\":%llu,\"pid\":%d,\"lost\":true}",
                  static_cast<unsigned long long>(id), s.pid());
  }
  return buf;
}

// One output stream's fields: "NAME" (text), "NAME_truncated", and "NAME_base64" (the
// exact bytes) when they are not valid UTF-8.
std::string stream_json(const char* name, std::string data, bool truncated) {
  if (truncated) {
    // --max-output cut it: never in the middle of a character.
    bool incomplete = false;
    const std::size_t ok = utf8_valid_prefix(data, &incomplete);
    if (incomplete) data.resize(ok);
  }
  std::string s = std::string(",\"") + name + "\":\"" + json_escape(data) + "\"";
  if (utf8_valid_prefix(data) != data.size()) {
    s += std::string(",\"") + name + "_base64\":\"" + base64(data) + "\"";
  }
  s += std::string(",\"") + name + "_truncated\":" + (truncated ? "true" : "false");
  return s;
}

std::string output_json(const uvreap::run_result& r) {
  std::string s = stream_json("stdout", r.out, r.out_truncated);
  s += stream_json("stderr", r.err, r.err_truncated);
  if (r.output_cut) s += ",\"output_cut\":true";
  return s;
}

// What held the job's tree, and with a cgroup how many of its processes outlived it.
std::string tree_json(const uvreap::exit_status& s) {
  const auto& t = s.tree_info();
  std::string out = ",\"tree\":\"" + std::string(uvreap::to_string(t.applied)) + "\"";
  if (t.descendants_at_exit >= 0) out += ",\"descendants_killed\":" + std::to_string(t.descendants_at_exit);
  return out;
}

std::string error_json(std::uint64_t id, std::string_view what) {
  return "{\"id\":" + std::to_string(id) + ",\"error\":\"" + json_escape(what) + "\"}";
}

void connection::reply(std::string text) {
  if (closed) return;  // the client is gone: the job was still reaped
  text += '\n';
  struct write_req {
    uv_write_t req{};
    std::string data;
  };
  auto* w = new write_req;
  w->data = std::move(text);
  w->req.data = w;
  // Counted until libuv calls back, which is never before the next loop iteration, even
  // for a write the socket took at once: what a burst of requests costs is here.
  const std::size_t cost = sizeof(write_req) + w->data.capacity();
  unsent += cost;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1,
                         [](uv_write_t* req, int status) {
                           auto* w = static_cast<write_req*>(req->data);
                           auto* c = static_cast<connection*>(req->handle->data);
                           const std::size_t cost = sizeof(write_req) + w->data.capacity();
                           delete w;
                           if (c == nullptr) return;
                           c->unsent -= std::min(c->unsent, cost);
                           if (status < 0) {
                             c->close();
                           } else {
                             c->maybe_resume();  // the client reads again
                           }
                         });
  if (r < 0) {
    unsent -= std::min(unsent, cost);
    delete w;
    close();
  }
}

void connection::close() {
  if (closed) return;
  closed = true;
  auto on_closed = [](uv_handle_t* h) {
    auto* c = static_cast<connection*>(h->data);
    if (--c->open_handles == 0) c->self.reset();  // may destroy *c
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle), on_closed);
}

bool connection::must_pause() const {
  return running >= srv->cfg.max_conn_jobs || unsent > kMaxUnsent;
}

// Reading resumes once the client has taken its replies and its jobs are below the cap:
// first what was read before the pause, then the socket.
void connection::maybe_resume() {
  if (closed || !paused || must_pause()) return;
  paused = false;
  std::string rest = std::move(backlog);
  backlog.clear();
  feed(rest);  // may pause again
  if (!paused && !closed && !read_eof) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp),
        [](uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
          *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          on_read(stream, nread, buf);
        });
  }
}

// A half-closed connection is closed once every job it asked for has been answered.
void connection::maybe_finish() {
  if (read_eof && running == 0) close();
}

void connection::on_line(std::string_view line) {
  const std::uint64_t id = next_id++;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Arguments are whitespace-separated printable text: no control bytes, no NUL.
  for (unsigned char c : line) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      reply(error_json(id, "invalid bytes"));
      return;
    }
  }
  if (line.find_first_not_of(" \t") == std::string_view::npos) {
    reply(error_json(id, "empty request"));  // would run the worker with no arguments
    return;
  }
  if (srv->stopping) {
    reply(error_json(id, "shutting down"));
    return;
  }
  if (srv->running >= srv->cfg.max_jobs) {
    reply("{\"id\":" + std::to_string(id) +
          ",\"error\":\"busy\",\"max_jobs\":" + std::to_string(srv->cfg.max_jobs) + "}");
    return;
  }
  uvreap::spawn_options o;
  o.argv = srv->cfg.worker;
  o.search_path = false;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t')
      ++j;
    if (j > i) o.argv.emplace_back(line.substr(i, j - i));
    i = j;
  }
  o.stdio_map = {uvreap::stdio::null(), uvreap::stdio::null(), uvreap::stdio::null()};
  o.tree = srv->cfg.tree;
  o.sandbox = srv->cfg.sandbox;
  if (o.tree == uvreap::tree::none) {
    o.new_process_group = true;  // --tree off: the time limit takes the worker's group
  }
  o.time_limit = uvreap::deadline{std::chrono::milliseconds{srv->cfg.timeout_ms}, SIGTERM,
                                  std::chrono::milliseconds{srv->cfg.grace_ms},
                                  o.tree == uvreap::tree::none};
  uvreap::run_options how;
  how.max_output = srv->cfg.max_output;
  how.drain_after_exit = std::chrono::milliseconds{srv->cfg.grace_ms};
  how.contain_tree = false;  // o.tree says
  job j{shared_from_this(), id};
  std::error_code ec;
  srv->reaper->run(
      o, std::move(how),
      [j](uvreap::run_result& r) {
        // The tree is gone (a contained job leaves nothing, so its output is never cut).
        connection& c = *j.conn;
        --c.srv->running;
        --c.running;
        std::string text = status_json(j.id, r.status);
        text.pop_back();  // its closing brace
        if (r.status.sandbox_info().requested) text += ",\"sandbox\":true";
        c.reply(text + tree_json(r.status) + output_json(r) + "}");
        c.maybe_finish();
        c.maybe_resume();  // one job fewer may be below --max-conn-jobs again
      },
      ec);
  if (ec) {
    reply(error_json(id, "spawn: " + ec.message()));
    return;
  }
  ++srv->running;
  ++running;
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<connection*>(stream->data);
  std::unique_ptr<char[]> owned(buf->base);
  if (nread < 0) {
    // EOF (a half-close, or the client vanished) or an error: no more requests. Jobs
    // already running are still reaped; their replies are sent if the socket allows.
    c->read_eof = true;
    uv_read_stop(stream);
    if (nread != UV_EOF) {
      c->close();
      return;
    }
    // A last request without its newline is still a request.
    if (!c->discarding && !c->pending.empty()) {
      std::string line = std::move(c->pending);
      c->pending.clear();
      c->on_line(line);
    }
    c->maybe_finish();
    return;
  }
  c->last_active = uv_now(c->srv->loop);
  uv_timer_again(&c->idle);
  c->feed(std::string_view(buf->base, static_cast<std::size_t>(nread)));
}

// Parses requests out of `data` until it is used up or the connection must pause; then
// the rest waits in `backlog` and the socket is not read until maybe_resume.
void connection::feed(std::string_view data) {
  const std::size_t cap = srv->cfg.max_line;
  while (!data.empty() && !closed) {
    if (must_pause()) {
      paused = true;
      backlog.assign(data);
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
      return;
    }
    const std::size_t nl = data.find('\n');
    const std::string_view chunk = data.substr(0, nl);
    if (discarding) {
      if (nl != std::string_view::npos) discarding = false;
    } else if (pending.size() + chunk.size() > cap) {
      reply(error_json(next_id++, "line too long"));
      pending.clear();
      discarding = nl == std::string_view::npos;
    } else if (nl == std::string_view::npos) {
      pending.append(chunk);
    } else {
      pending.append(chunk);
      std::string line = std::move(pending);
      pending.clear();
      on_line(line);
    }
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
}

void on_idle(uv_timer_t* t) {
  auto* c = static_cast<connection*>(t->data);
  // Idle: no job running and nothing read for --idle-timeout-ms (a line never finished
  // counts as nothing). A connection waiting for its jobs is not idle.
  if (c->running == 0) c->close();
}

void on_connection(uv_stream_t* listener, int status) {
  auto* srv = static_cast<server*>(listener->data);
  if (status < 0) {
    std::fprintf(stderr, "uvreap-jobd: accept: %s\n", uv_strerror(status));
    return;
  }
  srv->conns.erase(std::remove_if(srv->conns.begin(), srv->conns.end(),
                                  [](const auto& w) {
                                    auto c = w.lock();
                                    return !c || c->closed;
                                  }),
                   srv->conns.end());
  bool refuse = false;
  if (srv->conns.size() >= srv->cfg.max_conns) {
    // Full: the least recently active connection with no job running makes room (it costs
    // its client a reconnect, and nothing else); with none, the newcomer is refused.
    std::shared_ptr<connection> oldest;
    for (const auto& w : srv->conns) {
      auto c = w.lock();
      if (c && c->running == 0 && (!oldest || c->last_active < oldest->last_active)) oldest = c;
    }
    if (oldest) {
      oldest->close();
    } else {
      refuse = true;
    }
  }
  auto c = std::make_shared<connection>();
  c->srv = srv;
  c->last_active = uv_now(srv->loop);
  uv_tcp_init(srv->loop, &c->tcp);
  uv_timer_init(srv->loop, &c->idle);
  c->tcp.data = c.get();
  c->idle.data = c.get();
  c->open_handles = 2;
  c->self = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    c->close();
    return;
  }
  if (refuse) {
    c->reply("{\"error\":\"too many connections\",\"max_conns\":" +
             std::to_string(srv->cfg.max_conns) + "}");
    c->close();  // the reply went out already: uv_write sends what the socket takes at once
    return;
  }
  srv->conns.push_back(c);
  uv_timer_start(&c->idle, on_idle, srv->cfg.idle_timeout_ms, srv->cfg.idle_timeout_ms);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
        *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
      },
      on_read);
}

void on_stop_signal(uv_signal_t* h, int) {
  auto* srv = static_cast<server*>(h->data);
  if (srv->stopping) return;
  srv->stopping = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&srv->listener), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&srv->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&srv->sigint), nullptr);
  // Running jobs' trees get SIGTERM, then SIGKILL, and go unanswered (no callback after
  // close; their pipes are closed).
  srv->reaper->close(uvreap::close_options::kill_children(std::chrono::milliseconds{1000}));
  for (auto& w : srv->conns) {
    if (auto c = w.lock()) c->close();
  }
}

bool is_loopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
  return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

constexpr char kUsage[] =
    "usage: uvreap-jobd [options] -- /path/to/worker [fixed args...]\n"
    "  --listen HOST:PORT   where to listen (default 127.0.0.1:0, a free port)\n"
    "  --max-jobs N         jobs running at once, 1 to 1000000 (default 64)\n"
    "  --timeout-ms T       a job's time limit: SIGTERM to its whole tree, 1 to\n"
    "                       86400000 (default 10000)\n"
    "  --grace-ms G         then SIGKILL this much later, 0 to 86400000 (default 1000)\n"
    "  --tree MODE          what holds each job's tree: auto (default: a cgroup where\n"
    "                       one can be made, else a process group), cgroup (refuse to\n"
    "                       start without one), process-group, off (the job's process\n"
    "                       group for its time limit, nothing after its exit)\n"
    "  --sandbox-read PATH  confine each job (Landlock, no_new_privs, seccomp): it may\n"
    "                       read and execute beneath PATH, the system directories\n"
    "                       (/usr /lib /lib64 /bin /sbin /etc) and its worker; repeatable\n"
    "  --sandbox-write PATH confine each job; it may also write beneath PATH; repeatable\n"
    "  --no-network         confine each job; no TCP bind or connect\n"
    "  --max-line BYTES     longest request line, 1 to 16777216 (default 4096)\n"
    "  --max-output BYTES   output kept of each of a job's stdout and stderr, 0 to\n"
    "                       16777216 (default 65536)\n"
    "  --max-conns N        connections at once, 1 to 1000000 (default: half of the fd\n"
    "                       limit left after 32, at least 1); past it the least recently\n"
    "                       active connection with no job running is closed\n"
    "  --max-conn-jobs N    jobs of one connection running at once, 1 to 1000000\n"
    "                       (default 16); its further requests wait unread\n"
    "  --idle-timeout-ms T  close a connection with no job running that sent nothing\n"
    "                       for T ms, 1 to 86400000 (default 60000)\n"
    "  --allow-remote       listen on a non-loopback address\n"
    "  -h, --help           this text\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "uvreap-jobd: %s\n%s", why.c_str(), kUsage);
  return 2;
}

constexpr std::uint64_t kMaxMs = 86'400'000;  // one day

}  // namespace

int main(int argc, char** argv) {
  // First of all: a closed 0-2 would be taken by libuv's first fd (see std_fds.hpp).
  if (!uvreap::examples::open_standard_fds()) return 1;
  server srv;
  config& cfg = srv.cfg;
  std::string listen = "127.0.0.1:0";
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--allow-remote") {
      cfg.allow_remote = true;
      continue;
    }
    if (a == "--sandbox-read" || a == "--sandbox-write" || a == "--no-network") {
      if (!cfg.sandbox) {
        cfg.sandbox.emplace();
        cfg.sandbox->seccomp = true;
        for (const char* d : {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"}) {
          struct stat st {};
          if (::stat(d, &st) == 0) cfg.sandbox->read.emplace_back(d);
        }
      }
      if (a == "--no-network") {
        cfg.sandbox->network = false;
        continue;
      }
      if (i + 1 >= argc) return usage("missing value after " + std::string(a));
      const std::string_view v = argv[++i];
      if (v.empty() || v[0] != '/') return usage(std::string(a) + " wants an absolute path");
      (a == "--sandbox-read" ? cfg.sandbox->read : cfg.sandbox->write).emplace_back(v);
      continue;
    }
    if (a == "--tree") {
      if (i + 1 >= argc) return usage("missing value after --tree");
      const std::string_view v = argv[++i];
      if (v == "auto") {
        cfg.tree = uvreap::tree::automatic;
      } else if (v == "cgroup") {
        cfg.tree = uvreap::tree::cgroup;
      } else if (v == "process-group") {
        cfg.tree = uvreap::tree::process_group;
      } else if (v == "off") {
        cfg.tree = uvreap::tree::none;
      } else {
        return usage("--tree wants auto, cgroup, process-group or off");
      }
      continue;
    }
    if (a != "--listen" && a != "--max-jobs" && a != "--timeout-ms" && a != "--grace-ms" &&
        a != "--max-line" && a != "--max-output" && a != "--max-conns" && a != "--max-conn-jobs" &&
        a != "--idle-timeout-ms") {
      return usage("unknown option " + std::string(a));
    }
    if (i + 1 >= argc) return usage("missing value after " + std::string(a));
    const char* v = argv[++i];
    std::uint64_t n = 0;
    std::string why;
    if (a == "--listen") {
      listen = v;
      continue;
    }
    bool ok = false;
    if (a == "--max-jobs") {
      ok = uvreap::examples::parse_uint("--max-jobs", v, 1, 1'000'000, n, why);
      cfg.max_jobs = n;
    } else if (a == "--timeout-ms") {
      ok = uvreap::examples::parse_uint("--timeout-ms", v, 1, kMaxMs, n, why);
      cfg.timeout_ms = n;
    } else if (a == "--grace-ms") {
      ok = uvreap::examples::parse_uint("--grace-ms", v, 0, kMaxMs, n, why);
      cfg.grace_ms = n;
    } else if (a == "--max-line") {
      ok = uvreap::examples::parse_uint("--max-line", v, 1, 16 * 1024 * 1024, n, why);
      cfg.max_line = n;
    } else if (a == "--max-conns") {
      ok = uvreap::examples::parse_uint("--max-conns", v, 1, 1'000'000, n, why);
      cfg.max_conns = n;
    } else if (a == "--max-conn-jobs") {
      ok = uvreap::examples::parse_uint("--max-conn-jobs", v, 1, 1'000'000, n, why);
      cfg.max_conn_jobs = n;
    } else if (a == "--idle-timeout-ms") {
      ok = uvreap::examples::parse_uint("--idle-timeout-ms", v, 1, kMaxMs, n, why);
      cfg.idle_timeout_ms = n;
    } else {
      ok = uvreap::examples::parse_uint("--max-output", v, 0, 16 * 1024 * 1024, n, why);
      cfg.max_output = n;
    }
    if (!ok) return usage(why);
  }
  if (i >= argc) return usage("no worker given");
  if (cfg.max_conns == 0) {
    // Connections may take half of the fds left after a few for the server itself; the
    // other half is for jobs (two pipe ends each while they run, four while starting).
    rlimit nofile{};
    std::uint64_t limit = 1024;
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
      limit = nofile.rlim_cur;
    }
    cfg.max_conns =
        static_cast<std::size_t>(std::max<std::uint64_t>(1, limit > 32 ? (limit - 32) / 2 : 1));
    cfg.max_conns = std::min<std::size_t>(cfg.max_conns, 1'000'000);
  }
  if (argv[i][0] != '/') return usage("the worker must be an absolute path");
  {
    // Refuse to start with a worker that cannot run, rather than fail every request.
    struct stat st {};
    int err = 0;
    if (::stat(argv[i], &st) != 0) {
      err = errno;
    } else if (!S_ISREG(st.st_mode)) {
      err = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
    } else if (::access(argv[i], X_OK) != 0) {
      err = errno;
    }
    if (err != 0) {
      std::fprintf(stderr, "uvreap-jobd: worker %s: %s\n", argv[i], std::strerror(err));
      return 1;
    }
  }
  for (; i < argc; ++i)
    cfg.worker.emplace_back(argv[i]);

  // HOST:PORT, HOST may be [v6].
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return usage("--listen wants HOST:PORT");
  cfg.host = listen.substr(0, colon);
  if (cfg.host.size() > 2 && cfg.host.front() == '[' && cfg.host.back() == ']') {
    cfg.host = cfg.host.substr(1, cfg.host.size() - 2);
  }
  std::uint64_t port = 0;
  std::string why;
  if (!uvreap::examples::parse_uint("the --listen port", listen.c_str() + colon + 1, 0, 65535, port,
                                    why)) {
    return usage(why);
  }
  sockaddr_storage addr{};
  if (uv_ip4_addr(cfg.host.c_str(), static_cast<int>(port),
                  reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(cfg.host.c_str(), static_cast<int>(port),
                  reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return usage("bad address");
  }
  if (!is_loopback(addr) && !cfg.allow_remote) {
    return usage("refusing a non-loopback address without --allow-remote");
  }

  srv.loop = uv_default_loop();
  ::signal(SIGPIPE, SIG_IGN);  // a vanished client must not kill the server
  try {
    srv.reaper = std::make_unique<uvreap::reaper>(srv.loop);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "uvreap-jobd: %s\n", e.what());
    return 1;
  }
  if (cfg.sandbox) {
    // The worker runs from wherever it is; everything else is as the options say.
    cfg.sandbox->read.push_back(cfg.worker[0]);
    std::string why;
    if (const std::error_code ec = srv.reaper->sandbox_status(*cfg.sandbox, nullptr, &why); ec) {
      std::fprintf(stderr, "uvreap-jobd: cannot confine jobs: %s\n", why.c_str());
      return 1;
    }
  }
  if (cfg.tree == uvreap::tree::cgroup || cfg.tree == uvreap::tree::automatic) {
    std::string where;
    if (const std::error_code ec = srv.reaper->cgroup_status(&where); ec) {
      if (cfg.tree == uvreap::tree::cgroup) {
        std::fprintf(stderr, "uvreap-jobd: --tree cgroup: %s\n", where.c_str());
        return 1;
      }
      std::fprintf(stderr, "uvreap-jobd: jobs in process groups (no cgroup: %s)\n", where.c_str());
    } else {
      std::fprintf(stderr, "uvreap-jobd: jobs in cgroups under %s\n", where.c_str());
    }
  }
  uv_tcp_init(srv.loop, &srv.listener);
  srv.listener.data = &srv;
  int r = uv_tcp_bind(&srv.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&srv.listener), 128, on_connection);
  if (r != 0) {
    std::fprintf(stderr, "uvreap-jobd: listen on %s: %s\n", listen.c_str(), uv_strerror(r));
    return 1;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&srv.listener, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  // Stopping works from the moment the line below says the server is there.
  for (auto* s : {&srv.sigterm, &srv.sigint}) {
    uv_signal_init(srv.loop, s);
    s->data = &srv;
  }
  uv_signal_start(&srv.sigterm, on_stop_signal, SIGTERM);
  uv_signal_start(&srv.sigint, on_stop_signal, SIGINT);
  std::printf("listening on %s:%d\n", cfg.host.c_str(), bound_port);
  std::fflush(stdout);


  uv_run(srv.loop, UV_RUN_DEFAULT);
  srv.reaper.reset();
  uv_run(srv.loop, UV_RUN_DEFAULT);
  return uv_loop_close(srv.loop) == 0 ? 0 : 1;
}
