// SPDX-License-Identifier: MIT
// uvreap: the C API (uvreap.h) over uvreap::reaper. No exception crosses it.
#include "uvreap/uvreap.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "uvreap/reaper.hpp"
#include "uvreap/version.hpp"

struct uvreap_s {
  std::optional<uvreap::reaper> reaper;  // engaged from uvreap_init's success on
  void* data = nullptr;
};

namespace {

int to_c(const std::error_code& ec) noexcept {
  return ec ? -ec.value() : 0;
}

uvreap_exit_t to_c(const uvreap::exit_status& s) noexcept {
  uvreap_exit_t e{};
  e.pid = s.pid();
  e.kind = s.exited() ? UVREAP_EXITED : s.signaled() ? UVREAP_SIGNALED : UVREAP_LOST;
  e.exit_status = s.code();
  e.term_signal = s.signal();
  e.core_dumped = s.core_dumped() ? 1 : 0;
  e.deadline_fired = s.deadline_fired() ? 1 : 0;
  e.user_cpu_usec = s.usage().user_cpu.count();
  e.system_cpu_usec = s.usage().system_cpu.count();
  e.max_rss_kib = s.usage().max_rss_kib;
  const uvreap::tree_report& t = s.tree_info();
  e.tree = t.applied == uvreap::tree::cgroup          ? UVREAP_TREE_IN_CGROUP
           : t.applied == uvreap::tree::process_group ? UVREAP_TREE_IN_PROCESS_GROUP
                                                      : UVREAP_TREE_NONE;
  e.descendants_at_exit = t.descendants_at_exit;
  e.tree_cpu_usec = t.cpu.count();
  e.tree_memory_peak = t.memory_peak;
  const uvreap::sandbox_report& sb = s.sandbox_info();
  if (sb.requested) {
    e.sandbox = UVREAP_SANDBOX_APPLIED | (sb.filesystem ? UVREAP_SANDBOX_APPLIED_FILES : 0u) |
                (sb.truncate ? UVREAP_SANDBOX_APPLIED_TRUNCATE : 0u) |
                (sb.network ? UVREAP_SANDBOX_APPLIED_NETWORK : 0u) |
                (sb.scopes ? UVREAP_SANDBOX_APPLIED_SCOPES : 0u) |
                (sb.seccomp ? UVREAP_SANDBOX_APPLIED_SECCOMP : 0u);
    e.landlock_abi = sb.landlock_abi;
  }
  return e;
}

uvreap::exit_callback bind(uvreap_t* r, uvreap_exit_cb cb, void* data) {
  return [r, cb, data](const uvreap::exit_status& s) {
    const uvreap_exit_t e = to_c(s);
    cb(r, &e, data);
  };
}

// Builds the C++ options; EINVAL for what the C form cannot express.
int convert(const uvreap_spawn_options_t& in, uvreap::spawn_options& out) {
  if (in.args == nullptr || in.args[0] == nullptr) return -EINVAL;
  for (char* const* a = in.args; *a != nullptr; ++a)
    out.argv.emplace_back(*a);
  if (in.file != nullptr) out.file = in.file;
  out.search_path = (in.flags & UVREAP_SEARCH_PATH) != 0;
  if (in.env != nullptr) {
    out.env.emplace();
    for (char* const* e = in.env; *e != nullptr; ++e)
      out.env->emplace_back(*e);
  }
  if (in.cwd != nullptr) out.cwd = in.cwd;
  if (in.stdio_count < 0 || (in.stdio_count > 0 && in.stdio == nullptr)) return -EINVAL;
  out.stdio_map.clear();
  for (int i = 0; i < in.stdio_count; ++i) {
    const uv_stdio_container_t& c = in.stdio[i];
    uvreap::stdio s;
    if ((c.flags & UV_CREATE_PIPE) != 0) {
      const bool reads = (c.flags & UV_READABLE_PIPE) != 0;
      const bool writes = (c.flags & UV_WRITABLE_PIPE) != 0;
      const auto way = reads == writes ? uvreap::stdio::flow::both
                       : reads         ? uvreap::stdio::flow::to_child
                                       : uvreap::stdio::flow::from_child;
      s = uvreap::stdio::pipe(reinterpret_cast<uv_pipe_t*>(c.data.stream), way);
      s.nonblocking = (c.flags & UV_NONBLOCK_PIPE) != 0;
    } else if ((c.flags & UV_INHERIT_FD) != 0) {
      s = uvreap::stdio::from_fd(c.data.fd);
    } else if ((c.flags & UV_INHERIT_STREAM) != 0) {
      s = uvreap::stdio::from_stream(c.data.stream);
    } else {
      s = i < 3 ? uvreap::stdio::null() : uvreap::stdio::none();  // UV_IGNORE
    }
    out.stdio_map.push_back(s);
  }
  if (in.terminal != nullptr) {
    out.terminal = uvreap::terminal_options{in.terminal->cols, in.terminal->rows,
                                            in.terminal->handle, in.terminal->master_fd};
  }
  if (in.sandbox != nullptr) {
    const uvreap_sandbox_t& sb = *in.sandbox;
    uvreap::sandbox_options s;
    for (const char* const* p = sb.read; p != nullptr && *p != nullptr; ++p)
      s.read.emplace_back(*p);
    for (const char* const* p = sb.write; p != nullptr && *p != nullptr; ++p)
      s.write.emplace_back(*p);
    if (sb.deny_count < 0 || (sb.deny_count > 0 && sb.deny_syscalls == nullptr)) return -EINVAL;
    s.deny_syscalls.assign(sb.deny_syscalls, sb.deny_syscalls + sb.deny_count);
    s.network = (sb.flags & UVREAP_SANDBOX_NO_NETWORK) == 0;
    s.scope_abstract_unix = (sb.flags & UVREAP_SANDBOX_SCOPE_ABSTRACT_UNIX) != 0;
    s.scope_signals = (sb.flags & UVREAP_SANDBOX_SCOPE_SIGNALS) != 0;
    s.seccomp = (sb.flags & UVREAP_SANDBOX_SECCOMP) != 0;
    s.best_effort = (sb.flags & UVREAP_SANDBOX_BEST_EFFORT) != 0;
    out.sandbox = std::move(s);
  }
  if ((in.flags & UVREAP_SETUID) != 0) out.uid = in.uid;
  if ((in.flags & UVREAP_SETGID) != 0) out.gid = in.gid;
  out.shell_fallback = (in.flags & UVREAP_SHELL_FALLBACK) != 0;
  out.new_session = (in.flags & UVREAP_NEW_SESSION) != 0;
  out.new_process_group = (in.flags & UVREAP_NEW_PROCESS_GROUP) != 0;
  switch (in.flags & (UVREAP_TREE_CGROUP | UVREAP_TREE_PROCESS_GROUP | UVREAP_TREE_AUTO)) {
    case 0:
      break;
    case UVREAP_TREE_CGROUP:
      out.tree = uvreap::tree::cgroup;
      break;
    case UVREAP_TREE_PROCESS_GROUP:
      out.tree = uvreap::tree::process_group;
      break;
    case UVREAP_TREE_AUTO:
      out.tree = uvreap::tree::automatic;
      break;
    default:
      return -EINVAL;  // at most one
  }
  if (in.timeout_ms > 0) {
    uvreap::deadline d;
    d.after = std::chrono::milliseconds{static_cast<std::int64_t>(in.timeout_ms)};
    d.signal = in.timeout_signal;
    d.grace = std::chrono::milliseconds{static_cast<std::int64_t>(in.kill_grace_ms)};
    d.process_group = (in.flags & UVREAP_KILL_PROCESS_GROUP) != 0;
    out.time_limit = d;
  } else if ((in.flags & UVREAP_KILL_PROCESS_GROUP) != 0) {
    return -EINVAL;  // a group kill without a time limit means nothing
  }
  return 0;
}

int close_with(uvreap_t* r, uvreap::close_options how, uvreap_close_cb cb) noexcept {
  if (r == nullptr || r->reaper->closed()) return -EINVAL;
  // The reaper object is destroyed inside its own on_closed callback: allowed (the
  // library keeps its state alive until the callback returns).
  r->reaper->close(how, [r, cb] {
    if (cb != nullptr) cb(r);
    delete r;
  });
  return 0;
}

}  // namespace

extern "C" {

void uvreap_options_init(uvreap_options_t* opts) {
  if (opts == nullptr) return;
  *opts = uvreap_options_t{};
  opts->policy = UVREAP_POLICY_OWN;
  opts->max_batch = uvreap::options{}.max_batch;
}

void uvreap_spawn_options_init(uvreap_spawn_options_t* opts) {
  if (opts == nullptr) return;
  *opts = uvreap_spawn_options_t{};
  opts->flags = UVREAP_SEARCH_PATH;
  opts->timeout_signal = SIGTERM;
  opts->kill_grace_ms = 2000;
}

int uvreap_init(uv_loop_t* loop, const uvreap_options_t* opts, uvreap_t** reaper) {
  if (reaper == nullptr) return -EINVAL;
  *reaper = nullptr;
  uvreap_options_t c{};
  uvreap_options_init(&c);
  if (opts != nullptr) c = *opts;
  // C lets any int into the enum field; C++ may not even load one outside the enum's
  // range, so the value is read as the int it is.
  static_assert(sizeof(c.policy) == sizeof(int));
  int policy = 0;
  std::memcpy(&policy, &c.policy, sizeof policy);
  if (policy != UVREAP_POLICY_OWN && policy != UVREAP_POLICY_ALL && policy != UVREAP_POLICY_PIDFD) {
    return -EINVAL;
  }
  try {
    uvreap::options o;
    o.reap_policy = policy == UVREAP_POLICY_ALL     ? uvreap::policy::all
                    : policy == UVREAP_POLICY_PIDFD ? uvreap::policy::pidfd
                                                    : uvreap::policy::own;
    o.max_batch = c.max_batch;
    o.subreaper = c.subreaper != 0;
    o.poll_interval = std::chrono::milliseconds{c.poll_interval_ms};
    if (c.cgroup_parent != nullptr) o.cgroup_parent = c.cgroup_parent;
    auto* r = new uvreap_t{};
    if (c.on_orphan != nullptr) o.on_orphan = bind(r, c.on_orphan, c.orphan_data);
    std::error_code ec;
    auto made = uvreap::reaper::create(loop, std::move(o), ec);
    if (!made) {
      delete r;
      return to_c(ec);
    }
    r->reaper.emplace(std::move(*made));
    *reaper = r;
    return 0;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

int uvreap_spawn(uvreap_t* reaper, const uvreap_spawn_options_t* opts, uvreap_exit_cb cb,
                 void* data, pid_t* pid) {
  if (reaper == nullptr || opts == nullptr || cb == nullptr) return -EINVAL;
  try {
    uvreap::spawn_options o;
    if (int r = convert(*opts, o); r != 0) return r;
    std::error_code ec;
    const pid_t p = reaper->reaper->spawn(o, bind(reaper, cb, data), ec);
    if (ec) return to_c(ec);
    if (pid != nullptr) *pid = p;
    return 0;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

int uvreap_spawn_async(uvreap_t* reaper, const uvreap_spawn_options_t* opts,
                       uvreap_started_cb started_cb, uvreap_exit_cb exit_cb, void* data) {
  if (reaper == nullptr || opts == nullptr || started_cb == nullptr || exit_cb == nullptr) {
    return -EINVAL;
  }
  try {
    uvreap::spawn_options o;
    if (int r = convert(*opts, o); r != 0) return r;
    std::error_code ec;
    reaper->reaper->spawn_async(
        o,
        [reaper, started_cb, data](pid_t pid, std::error_code e) {
          started_cb(reaper, e ? -1 : pid, to_c(e), data);
        },
        bind(reaper, exit_cb, data), ec);
    return to_c(ec);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

int uvreap_watch(uvreap_t* reaper, pid_t pid, uvreap_exit_cb cb, void* data) {
  if (reaper == nullptr || cb == nullptr) return -EINVAL;
  try {
    std::error_code ec;
    reaper->reaper->watch(pid, bind(reaper, cb, data), ec);
    return to_c(ec);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

int uvreap_kill(uvreap_t* reaper, pid_t pid, int signum) {
  if (reaper == nullptr) return -EINVAL;
  std::error_code ec;
  reaper->reaper->kill(pid, signum, ec);
  return to_c(ec);
}

void uvreap_run_options_init(uvreap_run_options_t* opts) {
  if (opts == nullptr) return;
  *opts = uvreap_run_options_t{};
  const uvreap::run_options defaults;
  opts->max_output = defaults.max_output;
  opts->drain_after_exit_ms = static_cast<uint64_t>(defaults.drain_after_exit.count());
  opts->contain_tree = defaults.contain_tree ? 1 : 0;
}

int uvreap_run(uvreap_t* reaper, const uvreap_spawn_options_t* opts,
               const uvreap_run_options_t* how, uvreap_run_cb cb, void* data, pid_t* pid) {
  if (reaper == nullptr || opts == nullptr || cb == nullptr) return -EINVAL;
  uvreap_run_options_t h;
  uvreap_run_options_init(&h);
  if (how != nullptr) h = *how;
  if (h.drain_after_exit_ms > static_cast<uint64_t>(INT64_MAX) ||
      (h.input == nullptr && h.input_len != 0)) {
    return -EINVAL;
  }
  try {
    uvreap::spawn_options o;
    if (int r = convert(*opts, o); r < 0) return r;
    uvreap::run_options ro;
    if (h.input_len != 0) ro.input.assign(h.input, h.input_len);
    ro.max_output = h.max_output;
    ro.contain_tree = h.contain_tree != 0;
    ro.drain_after_exit = std::chrono::milliseconds{static_cast<std::int64_t>(h.drain_after_exit_ms)};
    std::error_code ec;
    const pid_t p = reaper->reaper->run(o, std::move(ro), [reaper, cb, data](uvreap::run_result& res) {
      uvreap_run_result_t c{};
      c.status = to_c(res.status);
      c.out = res.out.data();
      c.out_len = res.out.size();
      c.err = res.err.data();
      c.err_len = res.err.size();
      c.out_truncated = res.out_truncated ? 1 : 0;
      c.err_truncated = res.err_truncated ? 1 : 0;
      c.output_cut = res.output_cut ? 1 : 0;
      c.input_error = to_c(res.input_error);
      cb(reaper, &c, data);
    }, ec);
    if (p < 0) return to_c(ec);
    if (pid != nullptr) *pid = p;
    return 0;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

int uvreap_kill_tree(uvreap_t* reaper, pid_t pid, int signum) {
  if (reaper == nullptr) return -EINVAL;
  std::error_code ec;
  reaper->reaper->kill_tree(pid, signum, ec);
  return to_c(ec);
}

int uvreap_resize(uvreap_t* reaper, pid_t pid, int cols, int rows) {
  if (reaper == nullptr) return -EINVAL;
  std::error_code ec;
  reaper->reaper->resize(pid, cols, rows, ec);
  return to_c(ec);
}

int uvreap_cgroup_status(uvreap_t* reaper, char* why, size_t why_size) {
  if (reaper == nullptr || (why == nullptr && why_size != 0)) return -EINVAL;
  std::string text;
  const int r = to_c(reaper->reaper->cgroup_status(&text));
  if (why != nullptr && why_size > 0) {
    const std::size_t n = std::min(text.size(), why_size - 1);
    std::memcpy(why, text.data(), n);
    why[n] = '\0';
  }
  return r;
}

int uvreap_close(uvreap_t* reaper, uvreap_close_cb cb) {
  return close_with(reaper, uvreap::close_options::kill_children(), cb);
}

int uvreap_close_ex(uvreap_t* reaper, int kill_children, uint64_t grace_ms, uvreap_close_cb cb) {
  const auto how = kill_children != 0
                       ? uvreap::close_options::kill_children(std::chrono::milliseconds{
                             static_cast<std::int64_t>(std::min<uint64_t>(grace_ms, INT64_MAX))})
                       : uvreap::close_options::leave_running();
  return close_with(reaper, how, cb);
}

size_t uvreap_size(const uvreap_t* reaper) {
  return reaper == nullptr ? 0 : reaper->reaper->size();
}

uv_loop_t* uvreap_loop(const uvreap_t* reaper) {
  return reaper == nullptr ? nullptr : reaper->reaper->loop();
}

uvreap_policy_t uvreap_policy(const uvreap_t* reaper) {
  if (reaper == nullptr) return UVREAP_POLICY_OWN;
  switch (reaper->reaper->reap_policy()) {
    case uvreap::policy::all:
      return UVREAP_POLICY_ALL;
    case uvreap::policy::pidfd:
      return UVREAP_POLICY_PIDFD;
    case uvreap::policy::own:
      break;
  }
  return UVREAP_POLICY_OWN;
}

int uvreap_stats(const uvreap_t* reaper, uvreap_stats_t* out) {
  if (reaper == nullptr || out == nullptr) return -EINVAL;
  const uvreap::stats& s = reaper->reaper->stats();
  *out = {};
  out->sweeps = s.sweeps;
  out->empty_sweeps = s.empty_sweeps;
  out->exits_reaped = s.exits_reaped;
  out->orphans_reaped = s.orphans_reaped;
  out->lost = s.lost;
  out->largest_batch = s.largest_batch;
  out->continuations = s.continuations;
  out->coalesced_signals = s.coalesced_signals;
  out->callback_exceptions = s.callback_exceptions;
  out->errors = s.errors;
  out->deadlines_fired = s.deadlines_fired;
  out->signals_skipped = s.signals_skipped;
  out->syscalls = s.syscalls.total();
  out->syscalls_wait = s.syscalls.wait4 + s.syscalls.waitid;
  out->syscalls_spawn = s.syscalls.spawn;
  out->syscalls_eintr = s.syscalls.eintr;
  return 0;
}

void* uvreap_get_data(const uvreap_t* reaper) {
  return reaper == nullptr ? nullptr : reaper->data;
}

void uvreap_set_data(uvreap_t* reaper, void* data) {
  if (reaper != nullptr) reaper->data = data;
}

const char* uvreap_strerror(int err) {
  // Our codes are negative errnos (= UV_E* on Unix), ECHILD and ESTALE included, which
  // libuv cannot describe without allocating; the C library's table can, statically.
  if (err == 0) return "success";
  if (err < 0 && err > -4096) {
    if (const char* d = ::strerrordesc_np(-err)) return d;
  }
  // libuv's own codes (UV_EOF, UV_EAI_*) have static descriptions; for any other number
  // uv_strerror would strdup "Unknown system error N" (a leak per call, and not the
  // static string promised), so those get one fixed string.
  switch (err) {
#define UVREAP_UV_CODE(name, _) case UV_##name:
    UV_ERRNO_MAP(UVREAP_UV_CODE)
#undef UVREAP_UV_CODE
    return uv_strerror(err);
    default:
      return "unknown error";
  }
}

const char* uvreap_version_string(void) {
  return UVREAP_VERSION_STRING;
}

}  // extern "C"
