// SPDX-License-Identifier: MIT
// uvreap.node: a uvreap::reaper on Node's own libuv loop, through Node-API.
//
// The addon is compiled against the libuv headers Node ships and links no libuv: every
// uv_* symbol resolves to the running node binary's, so the reaper's handles live on the
// very loop that runs JavaScript (napi_get_uv_event_loop). Exits arrive on that loop
// thread, so they reach JavaScript with napi_make_callback directly — the same path
// Node's own handles take (microtasks run after it, an exception becomes an
// 'uncaughtException'). index.js turns this small native surface into the JS API.
#include <node_api.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <memory>
#include <utility>
#include <vector>

#include "uvreap/reaper.hpp"
#include "uvreap/testing/sys.hpp"

namespace {

using std::chrono::milliseconds;

/// A Node-API call failed; a JavaScript exception is pending (or is made at the boundary).
struct napi_failed {};

void check(napi_env env, napi_status status) {
  if (status == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "ERR_UVREAP_NAPI",
                     info && info->error_message ? info->error_message : "Node-API call failed");
  }
  throw napi_failed{};
}

/// Throws a JavaScript Error shaped like Node's system errors: code 'ENOENT', errno -2.
void throw_errno(napi_env env, int err, const char* syscall) {
  // glibc names every errno; libuv's names miss some we return (ECHILD, ESTALE).
  const char* name = strerrorname_np(err);
  if (name == nullptr) name = uv_err_name(-err);
  const std::string message = std::string(syscall) + " " + name;
  napi_value msg, error, code, errnum, sc;
  check(env, napi_create_string_utf8(env, message.c_str(), message.size(), &msg));
  check(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code));
  check(env, napi_create_error(env, code, msg, &error));
  check(env, napi_create_int32(env, -err, &errnum));
  check(env, napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc));
  check(env, napi_set_named_property(env, error, "errno", errnum));
  check(env, napi_set_named_property(env, error, "syscall", sc));
  napi_throw(env, error);
  throw napi_failed{};
}

/// Runs an entry point; C++ failures become JavaScript exceptions, never unwind into V8.
template <class F>
napi_value guard(napi_env env, F&& body) noexcept {
  try {
    return body();
  } catch (const napi_failed&) {
  } catch (const std::system_error& e) {
    try {
      throw_errno(env, e.code().value(), "uvreap");
    } catch (...) {
    }
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, "ENOMEM", "out of memory");
  } catch (...) {
    napi_throw_error(env, "ERR_UVREAP", "unexpected C++ exception");
  }
  return nullptr;
}

struct call_args {
  napi_value self = nullptr;
  std::vector<napi_value> argv;
};

call_args args_of(napi_env env, napi_callback_info info, std::size_t expected) {
  call_args a;
  a.argv.resize(expected);
  std::size_t n = expected;
  check(env, napi_get_cb_info(env, info, &n, a.argv.data(), &a.self, nullptr));
  if (n < expected) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "uvreap: too few arguments");
    throw napi_failed{};
  }
  return a;
}

std::string to_string(napi_env env, napi_value v) {
  std::size_t len = 0;
  check(env, napi_get_value_string_utf8(env, v, nullptr, 0, &len));
  std::string s(len, '\0');
  check(env, napi_get_value_string_utf8(env, v, s.data(), len + 1, &len));
  if (s.find('\0') != std::string::npos) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "uvreap: strings must not contain NUL bytes");
    throw napi_failed{};
  }
  return s;
}

double to_double(napi_env env, napi_value v) {
  double d = 0;
  check(env, napi_get_value_double(env, v, &d));
  return d;
}

int to_int(napi_env env, napi_value v) {
  std::int32_t i = 0;
  check(env, napi_get_value_int32(env, v, &i));
  return i;
}

bool is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

std::vector<std::string> to_strings(napi_env env, napi_value array) {
  std::uint32_t n = 0;
  check(env, napi_get_array_length(env, array, &n));
  std::vector<std::string> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    napi_value e;
    check(env, napi_get_element(env, array, i, &e));
    out.push_back(to_string(env, e));
  }
  return out;
}

napi_value number(napi_env env, double d) {
  napi_value v;
  check(env, napi_create_double(env, d, &v));
  return v;
}

/// index.js's [timeout ms, signal, grace ms] (or null) as a time limit.
std::optional<uvreap::deadline> to_deadline(napi_env env, napi_value v) {
  if (is_null(env, v)) return std::nullopt;
  napi_value t, sig, grace;
  check(env, napi_get_element(env, v, 0, &t));
  check(env, napi_get_element(env, v, 1, &sig));
  check(env, napi_get_element(env, v, 2, &grace));
  uvreap::deadline d;
  d.after = milliseconds(static_cast<std::int64_t>(to_double(env, t)));
  d.signal = to_int(env, sig);
  d.grace = milliseconds(static_cast<std::int64_t>(to_double(env, grace)));
  return d;
}

/// The command both spawn and run take at arguments 1-4: file, argv, env|null, cwd.
uvreap::spawn_options command_of(napi_env env, const napi_value* argv) {
  uvreap::spawn_options o;
  o.file = to_string(env, argv[1]);
  o.argv = to_strings(env, argv[2]);
  if (!is_null(env, argv[3])) o.env = to_strings(env, argv[3]);
  o.cwd = to_string(env, argv[4]);
  return o;
}

/// index.js's tree codes: 0 none, 1 cgroup, 2 process group, 3 automatic.
uvreap::tree to_tree(napi_env env, napi_value v) {
  switch (to_int(env, v)) {
    case 1:
      return uvreap::tree::cgroup;
    case 2:
      return uvreap::tree::process_group;
    case 3:
      return uvreap::tree::automatic;
    default:
      return uvreap::tree::none;
  }
}

/// What confined a child, as bits for index.js: 1 requested (and no_new_privs), 2 files,
/// 4 truncate, 8 network, 16 scopes, 32 seccomp.
unsigned sandbox_bits(const uvreap::sandbox_report& r) {
  if (!r.requested) return 0;
  return 1U | (r.filesystem ? 2U : 0U) | (r.truncate ? 4U : 0U) | (r.network ? 8U : 0U) |
         (r.scopes ? 16U : 0U) | (r.seccomp ? 32U : 0U);
}

/// The sandbox option as index.js passes it: [read[], write[], flags, deny[]], flags 1 no
/// network, 2 scope abstract unix, 4 scope signals, 8 seccomp, 16 best effort.
std::optional<uvreap::sandbox_options> to_sandbox(napi_env env, napi_value v) {
  if (is_null(env, v)) return std::nullopt;
  napi_value read, write, flags, deny;
  check(env, napi_get_element(env, v, 0, &read));
  check(env, napi_get_element(env, v, 1, &write));
  check(env, napi_get_element(env, v, 2, &flags));
  check(env, napi_get_element(env, v, 3, &deny));
  uvreap::sandbox_options s;
  s.read = to_strings(env, read);
  s.write = to_strings(env, write);
  const int f = to_int(env, flags);
  s.network = (f & 1) == 0;
  s.scope_abstract_unix = (f & 2) != 0;
  s.scope_signals = (f & 4) != 0;
  s.seccomp = (f & 8) != 0;
  s.best_effort = (f & 16) != 0;
  std::uint32_t n = 0;
  check(env, napi_get_array_length(env, deny, &n));
  for (std::uint32_t i = 0; i < n; ++i) {
    napi_value e;
    check(env, napi_get_element(env, deny, i, &e));
    s.deny_syscalls.push_back(to_int(env, e));
  }
  return s;
}

/// An exit record as the numbers index.js's exitRecord takes, after the id.
constexpr std::size_t kStatusNumbers = 15;
void status_numbers(napi_env env, const uvreap::exit_status& s, napi_value* out) {
  const auto& u = s.usage();
  const auto& t = s.tree_info();
  const double kind = s.exited() ? 0 : s.signaled() ? 1 : 2;
  const double applied = t.applied == uvreap::tree::cgroup          ? 1
                         : t.applied == uvreap::tree::process_group ? 2
                                                                    : 0;
  const double values[kStatusNumbers] = {
      static_cast<double>(s.pid()),
      kind,
      static_cast<double>(s.code()),
      static_cast<double>(s.signal()),
      s.core_dumped() ? 1.0 : 0.0,
      s.deadline_fired() ? 1.0 : 0.0,
      static_cast<double>(u.user_cpu.count()),
      static_cast<double>(u.system_cpu.count()),
      static_cast<double>(u.max_rss_kib),
      applied,
      static_cast<double>(t.descendants_at_exit),
      static_cast<double>(t.cpu.count()),
      static_cast<double>(t.memory_peak),
      static_cast<double>(sandbox_bits(s.sandbox_info())),
      static_cast<double>(s.sandbox_info().landlock_abi),
  };
  for (std::size_t i = 0; i < kStatusNumbers; ++i)
    out[i] = number(env, values[i]);
}

/// Codes index.js uses for a stdio entry that is not an fd number.
enum stdio_code : int { stdio_ignore = -1, stdio_inherit = -2, stdio_pipe = -3, stdio_closed = -4 };

/// The socket pairs made for 'pipe' entries: the parent's ends go to JavaScript (as
/// net.Socket), the child's ends are closed once the child has its copies.
struct pipe_ends {
  std::vector<int> parent, child;
  ~pipe_ends() {
    for (int fd : child)
      close_fd(fd);
    for (int fd : parent)
      close_fd(fd);
  }
  static void close_fd(int fd) {
    if (fd >= 0) ::close(fd);  // Linux closes the fd even when close reports EINTR
  }
  /// The parent's ends, now JavaScript's to own.
  std::vector<int> release_parent() { return std::exchange(parent, {}); }
};

/// One JavaScript Reaper: the C++ reaper and what it needs to call back into JavaScript.
class addon_reaper {
 public:
  static napi_value define(napi_env env);

 private:
  addon_reaper(napi_env env, napi_value self, uvreap::policy p);
  ~addon_reaper();

  static napi_value construct(napi_env env, napi_callback_info info);
  static napi_value spawn(napi_env env, napi_callback_info info);
  static napi_value watch(napi_env env, napi_callback_info info);
  static napi_value kill(napi_env env, napi_callback_info info);
  static napi_value kill_tree(napi_env env, napi_callback_info info);
  static napi_value resize(napi_env env, napi_callback_info info);
  static napi_value signal_child(napi_env env, napi_callback_info info, bool whole_tree);
  static napi_value run(napi_env env, napi_callback_info info);
  static napi_value close(napi_env env, napi_callback_info info);
  static napi_value stats(napi_env env, napi_callback_info info);
  static napi_value policy(napi_env env, napi_callback_info info);
  static napi_value size(napi_env env, napi_callback_info info);
  static addon_reaper& unwrap(napi_env env, napi_value self);
  static void finalize(napi_env env, void* data, void* hint);
  static void env_teardown(void* data);

  uvreap::exit_callback on_exit_for(double id);
  void deliver(double id, const uvreap::exit_status& s);
  void deliver_start(double id, pid_t pid, std::error_code ec);
  void deliver_run(double id, uvreap::run_result& res);
  void call_js(const char* method, std::size_t argc, const napi_value* argv);
  void hold() { napi_reference_ref(env_, self_, nullptr); }
  void release() { napi_reference_unref(env_, self_, nullptr); }
  uvreap::reaper& live(napi_env env);

  napi_env env_;
  napi_ref self_ = nullptr;  // strong while children are owned or a close is pending
  napi_async_context async_ = nullptr;
  std::optional<uvreap::reaper> reaper_;
  std::size_t children_ = 0;  // owned and not delivered yet: each holds one reference
  bool env_gone_ = false;
};

napi_value addon_reaper::define(napi_env env) {
  const napi_property_descriptor methods[] = {
      {"spawn", nullptr, spawn, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"watch", nullptr, watch, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"kill", nullptr, kill, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"killTree", nullptr, kill_tree, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"resize", nullptr, resize, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run", nullptr, run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, close, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"policy", nullptr, policy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"size", nullptr, size, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  check(env, napi_define_class(env, "NativeReaper", NAPI_AUTO_LENGTH, construct, nullptr,
                               sizeof methods / sizeof methods[0], methods, &cls));
  return cls;
}

addon_reaper::addon_reaper(napi_env env, napi_value self, uvreap::policy p) : env_(env) {
  uv_loop_t* loop = nullptr;
  check(env, napi_get_uv_event_loop(env, &loop));
  uvreap::options opts;
  opts.reap_policy = p;
  // Like a ChildProcess whose handle goes away, children outlive a reaper dropped
  // without close().
  opts.on_destroy = uvreap::close_options::leave_running();
  std::error_code ec;
  reaper_ = uvreap::reaper::create(loop, std::move(opts), ec);
  if (!reaper_) throw_errno(env, ec.value(), "uvreap_init");
  napi_value name;
  check(env, napi_create_string_utf8(env, "uvreap", NAPI_AUTO_LENGTH, &name));
  check(env, napi_async_init(env, nullptr, name, &async_));
  check(env, napi_create_reference(env, self, 0, &self_));
}

addon_reaper::~addon_reaper() {
  reaper_.reset();  // closes (leaving children running) unless close() ran already
  if (!env_gone_) {
    napi_remove_env_cleanup_hook(env_, env_teardown, this);
    napi_async_destroy(env_, async_);
  }
  if (self_) napi_delete_reference(env_, self_);
}

// The environment is going away (process exit, a worker ending): no more callbacks, and
// every handle closed before Node closes the loop. Children keep running, as
// child_process' do.
void addon_reaper::env_teardown(void* data) {
  auto* self = static_cast<addon_reaper*>(data);
  if (self->reaper_) self->reaper_->close(uvreap::close_options::leave_running());
  napi_async_destroy(self->env_, self->async_);
  self->env_gone_ = true;
}

void addon_reaper::finalize(napi_env, void* data, void*) {
  delete static_cast<addon_reaper*>(data);
}

napi_value addon_reaper::construct(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    call_args a = args_of(env, info, 1);
    std::string name = to_string(env, a.argv[0]);
    uvreap::policy p;
    if (name == "own") {
      p = uvreap::policy::own;
    } else if (name == "pidfd") {
      p = uvreap::policy::pidfd;
    } else {
      napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE",
                             "uvreap: policy must be 'own' or 'pidfd'");
      throw napi_failed{};
    }
    auto* self = new addon_reaper(env, a.self, p);
    if (napi_wrap(env, a.self, self, finalize, nullptr, nullptr) != napi_ok) {
      delete self;
      check(env, napi_generic_failure);
    }
    check(env, napi_add_env_cleanup_hook(env, env_teardown, self));
    return a.self;
  });
}

addon_reaper& addon_reaper::unwrap(napi_env env, napi_value self) {
  void* p = nullptr;
  check(env, napi_unwrap(env, self, &p));
  return *static_cast<addon_reaper*>(p);
}

uvreap::reaper& addon_reaper::live(napi_env env) {
  if (!reaper_ || env_gone_) throw_errno(env, ESTALE, "uvreap");
  return *reaper_;
}

uvreap::exit_callback addon_reaper::on_exit_for(double id) {
  return [this, id](const uvreap::exit_status& s) { deliver(id, s); };
}

// On the loop thread, from the reaper's dispatch: hand one exit to JavaScript.
void addon_reaper::deliver(double id, const uvreap::exit_status& s) {
  if (env_gone_) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  try {
    napi_value argv[1 + kStatusNumbers];
    argv[0] = number(env_, id);
    status_numbers(env_, s, argv + 1);
    --children_;
    call_js("_onexit", sizeof argv / sizeof argv[0], argv);
    release();  // after the call: the callback may have made this reaper's last reference
  } catch (const napi_failed&) {
  }
  napi_close_handle_scope(env_, scope);
}

// On the loop thread: a {async: true} spawn's outcome, to this._onstarted(id, pid, errno).
void addon_reaper::deliver_start(double id, pid_t pid, std::error_code ec) {
  if (env_gone_) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  try {
    const napi_value argv[] = {number(env_, id), number(env_, ec ? -1 : pid),
                               number(env_, ec ? -ec.value() : 0)};
    if (ec) --children_;  // no exit will come
    call_js("_onstarted", sizeof argv / sizeof argv[0], argv);
    if (ec) release();
  } catch (const napi_failed&) {
  }
  napi_close_handle_scope(env_, scope);
}

// Calls this.<method>(...argv) as Node calls into JavaScript from a libuv callback.
// An exception thrown there is Node's to report ('uncaughtException'), as for any event
// listener; the rest of the batch is still delivered.
void addon_reaper::call_js(const char* method, std::size_t argc, const napi_value* argv) {
  napi_value self, fn;
  check(env_, napi_get_reference_value(env_, self_, &self));
  check(env_, napi_get_named_property(env_, self, method, &fn));
  napi_status st = napi_make_callback(env_, async_, self, fn, argc, argv, nullptr);
  if (st == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env_, &err) == napi_ok) napi_fatal_exception(env_, err);
  }
}

// spawn(id, file, argv, env|null, cwd, stdio[], [timeout, signal, grace]|null,
//       detached, uid, gid, async, tree, [cols, rows]|null, sandbox|null) -> [pid (-1 when async), parent
//       fd per stdio entry (-1 unless 'pipe'), then the terminal's master fd when asked for
//       one]. With async the outcome comes to this._onstarted(id, pid, errno); a terminal
//       is for a spawn that is not async (index.js refuses the pair).
napi_value addon_reaper::spawn(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 14);
    addon_reaper& self = unwrap(env, a.self);
    uvreap::reaper& r = self.live(env);
    const double id = to_double(env, a.argv[0]);
    uvreap::spawn_options o = command_of(env, a.argv.data());
    o.sandbox = to_sandbox(env, a.argv[13]);
    int master = -1;  // the terminal's, JavaScript's once the spawn has succeeded
    if (!is_null(env, a.argv[12])) {
      napi_value c, rw;
      check(env, napi_get_element(env, a.argv[12], 0, &c));
      check(env, napi_get_element(env, a.argv[12], 1, &rw));
      o.terminal = uvreap::terminal_options{to_int(env, c), to_int(env, rw), nullptr, &master};
    }

    std::uint32_t n = 0;
    check(env, napi_get_array_length(env, a.argv[5], &n));
    pipe_ends pipes;
    pipes.parent.assign(n, -1);
    o.stdio_map.clear();
    for (std::uint32_t i = 0; i < n; ++i) {
      napi_value e;
      check(env, napi_get_element(env, a.argv[5], i, &e));
      const int code = to_int(env, e);
      switch (code) {
        case stdio_ignore:
          o.stdio_map.push_back(uvreap::stdio::null());
          break;
        case stdio_inherit:
          o.stdio_map.push_back(uvreap::stdio::inherit());
          break;
        case stdio_closed:
          o.stdio_map.push_back(uvreap::stdio::none());
          break;
        case stdio_pipe: {
          int sv[2];
          if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            throw_errno(env, errno, "socketpair");
          pipes.parent[i] = sv[0];
          pipes.child.push_back(sv[1]);
          o.stdio_map.push_back(uvreap::stdio::from_fd(sv[1]));
          break;
        }
        default:
          if (code < 0) throw_errno(env, EINVAL, "spawn");
          o.stdio_map.push_back(uvreap::stdio::from_fd(code));
      }
    }
    o.time_limit = to_deadline(env, a.argv[6]);
    o.tree = to_tree(env, a.argv[11]);
    bool detached = false;
    check(env, napi_get_value_bool(env, a.argv[7], &detached));
    o.new_session = detached;
    // A detached child leads a new session and group: its time limit ends the whole group
    // (a tree, when it has one).
    if (o.time_limit && o.tree == uvreap::tree::none) o.time_limit->process_group = detached;
    if (!is_null(env, a.argv[8])) o.uid = static_cast<uid_t>(to_double(env, a.argv[8]));
    if (!is_null(env, a.argv[9])) o.gid = static_cast<gid_t>(to_double(env, a.argv[9]));
    o.search_path = true;
    o.shell_fallback =
        true;  // child_process' rule (libuv execvp's): a script without #! runs under /bin/sh

    bool async = false;
    check(env, napi_get_value_bool(env, a.argv[10], &async));
    std::error_code ec;
    pid_t pid = -1;
    if (async) {
      // The child's ends of the socket pairs stay open until the child has them: they
      // are closed with the outcome callback (run, or dropped at close).
      struct child_ends {
        std::vector<int> fds;
        ~child_ends() {
          for (int fd : fds)
            pipe_ends::close_fd(fd);
        }
      };
      auto ends = std::make_shared<child_ends>();
      ends->fds = std::exchange(pipes.child, {});
      addon_reaper* me = &self;
      r.spawn_async(
          o,
          [me, id, ends](pid_t p, std::error_code e) mutable {
            ends.reset();
            me->deliver_start(id, p, e);
          },
          self.on_exit_for(id), ec);
      if (ec) {
        pipes.child = std::exchange(ends->fds, {});  // closed with the parent's ends
        throw_errno(env, ec.value(), "spawn");
      }
    } else {
      pid = r.spawn(o, self.on_exit_for(id), ec);
      if (pid < 0) throw_errno(env, ec.value(), "spawn");
    }
    ++self.children_;
    self.hold();

    std::vector<int> fds = pipes.release_parent();
    if (o.terminal) fds.push_back(master);
    napi_value out;
    check(env, napi_create_array_with_length(env, fds.size() + 1, &out));
    check(env, napi_set_element(env, out, 0, number(env, pid)));
    for (std::size_t i = 0; i < fds.size(); ++i) {
      check(env,
            napi_set_element(env, out, static_cast<std::uint32_t>(i + 1), number(env, fds[i])));
    }
    return out;
  });
}

// watch(id, pid)
napi_value addon_reaper::watch(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 2);
    addon_reaper& self = unwrap(env, a.self);
    uvreap::reaper& r = self.live(env);
    const double id = to_double(env, a.argv[0]);
    const double pid = to_double(env, a.argv[1]);
    if (pid != static_cast<pid_t>(pid)) throw_errno(env, EINVAL, "watch");
    std::error_code ec;
    r.watch(static_cast<pid_t>(pid), self.on_exit_for(id), ec);
    if (ec) throw_errno(env, ec.value(), "watch");
    ++self.children_;
    self.hold();
    return nullptr;
  });
}

// kill(pid, signal) and killTree(pid, signal) -> true, or false when the child (its tree)
// is no longer this reaper's (ESRCH).
napi_value addon_reaper::signal_child(napi_env env, napi_callback_info info, bool whole_tree) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 2);
    uvreap::reaper& r = unwrap(env, a.self).live(env);
    const auto pid = static_cast<pid_t>(to_double(env, a.argv[0]));
    const int sig = to_int(env, a.argv[1]);
    std::error_code ec;
    whole_tree ? r.kill_tree(pid, sig, ec) : r.kill(pid, sig, ec);
    if (ec && ec.value() != ESRCH) throw_errno(env, ec.value(), whole_tree ? "killTree" : "kill");
    napi_value v;
    check(env, napi_get_boolean(env, !ec, &v));
    return v;
  });
}

// resize(pid, cols, rows) -> true, or false when the child is no longer this reaper's.
napi_value addon_reaper::resize(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 3);
    uvreap::reaper& r = unwrap(env, a.self).live(env);
    const auto pid = static_cast<pid_t>(to_double(env, a.argv[0]));
    std::error_code ec;
    r.resize(pid, to_int(env, a.argv[1]), to_int(env, a.argv[2]), ec);
    if (ec && ec.value() != ESRCH) throw_errno(env, ec.value(), "resize");
    napi_value v;
    check(env, napi_get_boolean(env, !ec, &v));
    return v;
  });
}

napi_value addon_reaper::kill(napi_env env, napi_callback_info info) {
  return signal_child(env, info, false);
}

napi_value addon_reaper::kill_tree(napi_env env, napi_callback_info info) {
  return signal_child(env, info, true);
}

// run(id, file, argv, env|null, cwd, [timeout, signal, grace]|null, uid, gid, tree,
//     input Buffer|null, maxOutput, drainMs, sandbox|null) -> pid. The result comes to
//     this._onrun(id, ...status numbers, stdout Buffer, stderr Buffer, stdoutTruncated,
//     stderrTruncated, outputCut, input errno).
napi_value addon_reaper::run(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 13);
    addon_reaper& self = unwrap(env, a.self);
    uvreap::reaper& r = self.live(env);
    const double id = to_double(env, a.argv[0]);
    uvreap::spawn_options o = command_of(env, a.argv.data());
    o.sandbox = to_sandbox(env, a.argv[12]);
    o.time_limit = to_deadline(env, a.argv[5]);
    if (!is_null(env, a.argv[6])) o.uid = static_cast<uid_t>(to_double(env, a.argv[6]));
    if (!is_null(env, a.argv[7])) o.gid = static_cast<gid_t>(to_double(env, a.argv[7]));
    o.tree = to_tree(env, a.argv[8]);
    o.search_path = true;
    o.shell_fallback = true;
    uvreap::run_options how;
    if (!is_null(env, a.argv[9])) {
      void* data = nullptr;
      std::size_t len = 0;
      check(env, napi_get_buffer_info(env, a.argv[9], &data, &len));
      how.input.assign(static_cast<const char*>(data), len);
    }
    how.max_output = static_cast<std::size_t>(to_double(env, a.argv[10]));
    how.drain_after_exit = milliseconds(static_cast<std::int64_t>(to_double(env, a.argv[11])));
    how.contain_tree = false;  // index.js passes the tree it means ('auto' by default)
    addon_reaper* me = &self;
    std::error_code ec;
    const pid_t pid = r.run(o, std::move(how), [me, id](uvreap::run_result& res) {
      me->deliver_run(id, res);
    }, ec);
    if (pid < 0) throw_errno(env, ec.value(), "spawn");
    ++self.children_;
    self.hold();
    return number(env, pid);
  });
}

// On the loop thread: a run's result, to this._onrun.
void addon_reaper::deliver_run(double id, uvreap::run_result& res) {
  if (env_gone_) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  try {
    napi_value argv[1 + kStatusNumbers + 6];
    argv[0] = number(env_, id);
    status_numbers(env_, res.status, argv + 1);
    napi_value* rest = argv + 1 + kStatusNumbers;
    check(env_, napi_create_buffer_copy(env_, res.out.size(), res.out.data(), nullptr, &rest[0]));
    check(env_, napi_create_buffer_copy(env_, res.err.size(), res.err.data(), nullptr, &rest[1]));
    rest[2] = number(env_, res.out_truncated ? 1 : 0);
    rest[3] = number(env_, res.err_truncated ? 1 : 0);
    rest[4] = number(env_, res.output_cut ? 1 : 0);
    rest[5] = number(env_, res.input_error ? -res.input_error.value() : 0);
    --children_;
    call_js("_onrun", sizeof argv / sizeof argv[0], argv);
    release();
  } catch (const napi_failed&) {
  }
  napi_close_handle_scope(env_, scope);
}

// close(terminate, graceMs, signal) -> false when already closing; this._onclose() runs
// once everything is released.
napi_value addon_reaper::close(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 3);
    addon_reaper& self = unwrap(env, a.self);
    bool terminate = false;
    check(env, napi_get_value_bool(env, a.argv[0], &terminate));
    uvreap::close_options how;
    how.terminate = terminate;
    how.grace = milliseconds(static_cast<std::int64_t>(to_double(env, a.argv[1])));
    how.signal = to_int(env, a.argv[2]);
    bool started = false;
    if (self.reaper_ && !self.env_gone_) {
      self.hold();  // until on_closed
      started = self.reaper_->close(how, [&self] {
        if (self.env_gone_) return;
        napi_handle_scope scope;
        if (napi_open_handle_scope(self.env_, &scope) != napi_ok) return;
        try {
          self.call_js("_onclose", 0, nullptr);
        } catch (const napi_failed&) {
        }
        self.release();
        napi_close_handle_scope(self.env_, scope);
      });
      if (!started) {
        self.release();
      } else {
        // No exit callback will run now: the children no longer hold the JS object.
        for (; self.children_ > 0; --self.children_)
          self.release();
      }
    }
    napi_value v;
    check(env, napi_get_boolean(env, started, &v));
    return v;
  });
}

napi_value addon_reaper::stats(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 0);
    addon_reaper& self = unwrap(env, a.self);
    if (!self.reaper_) throw_errno(env, ESTALE, "stats");
    const uvreap::stats s = self.reaper_->stats();
    napi_value o;
    check(env, napi_create_object(env, &o));
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"sweeps", s.sweeps},
        {"exitsReaped", s.exits_reaped},
        {"lost", s.lost},
        {"fallbackScans", s.fallback_scans},
        {"deadlinesFired", s.deadlines_fired},
        {"pidfdFallbacks", s.pidfd_fallbacks},
        {"reapSyscalls",
         s.syscalls.wait4 + s.syscalls.waitid + s.syscalls.epoll + s.syscalls.close},
        {"syscalls", s.syscalls.total()},
    };
    for (const auto& [name, value] : fields) {
      check(env, napi_set_named_property(env, o, name, number(env, static_cast<double>(value))));
    }
    return o;
  });
}

napi_value addon_reaper::policy(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 0);
    addon_reaper& self = unwrap(env, a.self);
    if (!self.reaper_) throw_errno(env, ESTALE, "policy");
    const std::string_view name = uvreap::to_string(self.reaper_->reap_policy());
    napi_value v;
    check(env, napi_create_string_utf8(env, name.data(), name.size(), &v));
    return v;
  });
}

napi_value addon_reaper::size(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    call_args a = args_of(env, info, 0);
    addon_reaper& self = unwrap(env, a.self);
    const bool open = self.reaper_ && !self.reaper_->closed();
    return number(env, open ? static_cast<double>(self.reaper_->size()) : 0.0);
  });
}

// foregroundGroup(fd) -> the foreground process group of the terminal whose master is
// `fd` (TIOCGPGRP), or -errno.
napi_value foreground_group(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    std::size_t argc = 1;
    napi_value arg;
    check(env, napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr));
    if (argc < 1) throw_errno(env, EINVAL, "foregroundGroup");
    pid_t group = -1;
    const int r = ::ioctl(to_int(env, arg), TIOCGPGRP, &group);
    return number(env, r < 0 ? -errno : group);
  });
}

// landlockAbi() -> the kernel's Landlock ABI version, 0 without Landlock.
napi_value landlock_abi(napi_env env, napi_callback_info) {
  return guard(env, [&]() -> napi_value {
    const int abi = uvreap::sys::os().landlock_abi();
    return number(env, abi < 0 ? 0 : abi);
  });
}

napi_value init(napi_env env, napi_value exports) {
  return guard(env, [&] {
    napi_value abi;
    check(env, napi_create_function(env, "landlockAbi", NAPI_AUTO_LENGTH, landlock_abi, nullptr, &abi));
    check(env, napi_set_named_property(env, exports, "landlockAbi", abi));
    napi_value fg;
    check(env, napi_create_function(env, "foregroundGroup", NAPI_AUTO_LENGTH, foreground_group,
                                    nullptr, &fg));
    check(env, napi_set_named_property(env, exports, "foregroundGroup", fg));
    check(env, napi_set_named_property(env, exports, "NativeReaper", addon_reaper::define(env)));
    napi_value version;
    check(env, napi_create_string_utf8(env, uv_version_string(), NAPI_AUTO_LENGTH, &version));
    check(env, napi_set_named_property(env, exports, "libuvVersion", version));
    return exports;
  });
}

}  // namespace

NAPI_MODULE_INIT() {
  return init(env, exports);
}
