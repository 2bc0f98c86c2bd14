// SPDX-License-Identifier: MIT
// uvreap (private): validation of spawn_options, the parent's half of the child's fds,
// and the choice between the spawn engine and posix_spawn (spawn_posix.cpp).
#include "spawn_plan.hpp"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <string_view>

#include "errno_code.hpp"
#include "os_calls.hpp"

extern char** environ;

namespace uvreap::detail {

namespace {

constexpr std::size_t kMaxFds = 1024;

// An initialised uv_pipe_t that is not open (and not closing): what the spawn may open.
bool unopened_pipe(uv_pipe_t* p) noexcept {
  uv_os_fd_t open_fd = -1;
  return p != nullptr && p->type == UV_NAMED_PIPE &&
         uv_is_closing(reinterpret_cast<const uv_handle_t*>(p)) == 0 &&
         uv_fileno(reinterpret_cast<const uv_handle_t*>(p), &open_fd) == UV_EBADF;
}

// Child fd `t` (0-2) is the terminal's: stdio_map leaves it as inherit, or names no entry.
bool terminal_slot(const spawn_options& opts, std::size_t t) noexcept {
  return t < 3 && (t >= opts.stdio_map.size() || opts.stdio_map[t].how == stdio::kind::inherit);
}

bool has_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

char* mut(const std::string& s) noexcept {
  return const_cast<char*>(s.c_str());
}

// The PATH the child's program is looked up in: the child's own when `env` sets one.
std::string_view search_list(const spawn_options& opts) {
  if (opts.env) {
    for (const auto& e : *opts.env) {
      if (e.compare(0, 5, "PATH=") == 0) return std::string_view(e).substr(5);
    }
  }
  const char* p = std::getenv("PATH");
  return p != nullptr ? std::string_view(p) : std::string_view("/bin:/usr/bin");
}

}  // namespace

spawn_plan::~spawn_plan() {
  if (actions_init_) posix_spawn_file_actions_destroy(&actions_);
  if (attr_init_) posix_spawnattr_destroy(&attr_);
  if (os_ == nullptr) return;
  for (int& fd : owned_fds_)
    close_fd(fd);
  for (pipe_end& p : pipes_)
    close_fd(p.parent_fd);
  close_fd(master_out_.fd);
}

void spawn_plan::close_fd(int& fd) noexcept {
  if (fd < 0) return;
  (void)os_->close(fd);  // an error (EINTR) still releases the fd: nothing to retry
  fd = -1;
}

std::error_code spawn_plan::prepare(const spawn_options& opts, os_calls& os) noexcept {
  os_ = &os;
  try {
    return build(opts);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::error_code spawn_plan::validate(const spawn_options& opts) const {
  // Reject what exec would silently truncate or misread, before any child exists.
  if (opts.argv.empty() || (opts.file.empty() && opts.argv[0].empty())) {
    return errno_code(EINVAL);
  }
  if (opts.new_session && opts.new_process_group) return errno_code(EINVAL);
  if (static_cast<unsigned>(opts.tree) > static_cast<unsigned>(uvreap::tree::automatic)) {
    return errno_code(EINVAL);
  }
  if (opts.foreground_terminal && !opts.new_process_group) return errno_code(EINVAL);
  if (const auto& t = opts.terminal) {
    // A terminal of its own makes a session: a process group alone would be a lie.
    if (t->cols < 1 || t->cols > 65535 || t->rows < 1 || t->rows > 65535 ||
        (t->handle == nullptr) == (t->master_fd == nullptr) ||
        (t->handle != nullptr && !unopened_pipe(t->handle)) || opts.new_process_group ||
        !(terminal_slot(opts, 0) || terminal_slot(opts, 1) || terminal_slot(opts, 2))) {
      return errno_code(EINVAL);
    }
  }
  if (const auto& t = opts.time_limit) {
    if (t->after.count() <= 0 || t->grace.count() < 0 || t->signal <= 0 || t->signal >= NSIG) {
      return errno_code(EINVAL);
    }
    // A group signal needs a group of the child's own, or it would hit ours. (With a
    // tree, the limit ends the tree: process_group is then moot.)
    if (t->process_group && !opts.new_session && !opts.new_process_group &&
        !opts.terminal && opts.tree == uvreap::tree::none) {
      return errno_code(EINVAL);
    }
  }
  if (has_nul(opts.file) || has_nul(opts.cwd)) return errno_code(EINVAL);
  for (const auto& a : opts.argv) {
    if (has_nul(a)) return errno_code(EINVAL);
  }
  if (opts.env) {
    for (const auto& e : *opts.env) {
      const auto eq = e.find('=');
      if (eq == std::string::npos || eq == 0 || has_nul(e)) return errno_code(EINVAL);
    }
  }
  if (opts.stdio_map.size() > kMaxFds) return errno_code(EINVAL);
  if (opts.parent_death_signal < 0 || opts.parent_death_signal >= NSIG) return errno_code(EINVAL);
  if (opts.umask && (*opts.umask & ~mode_t{0777}) != 0) return errno_code(EINVAL);
  if (opts.groups && opts.groups->size() > NGROUPS_MAX) return errno_code(EINVAL);
  for (const auto& l : opts.rlimits) {
    if (l.resource < 0 || l.resource >= RLIMIT_NLIMITS || l.soft > l.hard) {
      return errno_code(EINVAL);
    }
  }
  return {};
}

std::error_code spawn_plan::build(const spawn_options& opts) {
  if (auto ec = validate(opts); ec) return ec;
  if (auto ec = plan_paths(opts); ec) return ec;

  argv_.reserve(opts.argv.size() + 1);
  for (const auto& a : opts.argv)
    argv_.push_back(mut(a));
  argv_.push_back(nullptr);
  if (opts.env) {
    env_.reserve(opts.env->size() + 1);
    for (const auto& e : *opts.env)
      env_.push_back(mut(e));
    env_.push_back(nullptr);
    envp_ = env_.data();
  } else {
    envp_ = environ;
  }
  cwd_ = opts.cwd.empty() ? nullptr : opts.cwd.c_str();
  plan_identity(opts);
  if (auto ec = plan_fds(opts); ec) return ec;
  if (opts.sandbox) {
    if (auto ec = plan_sandbox(*opts.sandbox); ec) return ec;
  }

  recipe_.paths = paths_.data();
  recipe_.path_count = paths_.size();
  recipe_.argv = argv_.data();
  recipe_.envp = envp_;
  recipe_.cwd = cwd_;
  recipe_.moves = moves_.data();
  recipe_.move_count = static_cast<int>(moves_.size());
  recipe_.new_session = opts.new_session || opts.terminal.has_value();
  recipe_.new_process_group = opts.new_process_group;
  recipe_.foreground = opts.foreground_terminal;
  if (opts.shell_fallback) {
    // {"/bin/sh", <the path, filled in by the child>, argv[1..], nullptr}
    shell_argv_.push_back(const_cast<char*>("/bin/sh"));
    shell_argv_.push_back(nullptr);
    shell_argv_.insert(shell_argv_.end(), argv_.begin() + 1, argv_.end());
    recipe_.shell_argv = shell_argv_.data();
  }
  return {};
}

std::error_code spawn_plan::plan_paths(const spawn_options& opts) {
  const std::string& file = opts.file.empty() ? opts.argv[0] : opts.file;
  file_ = file.c_str();
  search_path_ = opts.search_path && file.find('/') == std::string::npos;
  if (!search_path_) {
    paths_.push_back(file_);
    return {};
  }
  // Every candidate is made here: the child may not allocate.
  std::string_view list = search_list(opts);
  for (;;) {
    const auto colon = list.find(':');
    std::string_view dir = list.substr(0, colon);
    if (dir.empty()) dir = ".";  // an empty entry is the working directory
    std::string path;
    path.reserve(dir.size() + 1 + file.size());
    path.append(dir).append("/").append(file);
    path_storage_.push_back(std::move(path));
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
  paths_.reserve(path_storage_.size());
  for (const auto& p : path_storage_)
    paths_.push_back(p.c_str());
  return {};
}

void spawn_plan::plan_identity(const spawn_options& opts) {
  for (const auto& l : opts.rlimits)
    rlimits_.push_back({l.resource, {l.soft, l.hard}});
  recipe_.rlimits = rlimits_.data();
  recipe_.rlimit_count = rlimits_.size();
  recipe_.set_umask = opts.umask.has_value();
  recipe_.umask = opts.umask.value_or(0);
  if (opts.groups) {
    groups_ = *opts.groups;
    recipe_.set_groups = true;
  } else if (opts.uid || opts.gid) {
    recipe_.drop_groups = true;  // as uv_spawn: no supplementary group survives a switch
  }
  recipe_.groups = groups_.data();
  recipe_.group_count = groups_.size();
  recipe_.set_gid = opts.gid.has_value();
  recipe_.gid = opts.gid.value_or(0);
  recipe_.set_uid = opts.uid.has_value();
  recipe_.uid = opts.uid.value_or(0);
  recipe_.pdeathsig = opts.parent_death_signal;
  needs_engine_ = !opts.rlimits.empty() || opts.umask || opts.groups || opts.uid || opts.gid ||
                  opts.parent_death_signal != 0 || opts.foreground_terminal ||
                  opts.shell_fallback || opts.terminal;
}

int spawn_plan::source_above(int fd, int n) {
  const int r = os_->dup_cloexec(fd, n);
  if (r >= 0) owned_fds_.push_back(r);  // room reserved by plan_fds
  return r;
}

std::error_code spawn_plan::open_terminal(const terminal_options& t) {
  int fds[2] = {-1, -1};
  const int index =
      os_->open_pty(fds, static_cast<unsigned short>(t.cols), static_cast<unsigned short>(t.rows));
  if (index < 0) return errno_code(-index);
  // The master is the handle's after finish (a pipe end like any other); the slave goes
  // to the child, and the hold keeps it open for the reaper (terminal.hpp says why).
  if (t.handle != nullptr) {
    pipes_.push_back({t.handle, fds[0]});
  } else {
    master_out_ = {t.master_fd, fds[0]};
  }
  try {
    terminal_ = std::make_unique<terminal_hold>(fds[0], index, fds[1]);
  } catch (const std::bad_alloc&) {
    (void)os_->close(fds[1]);
    throw;  // prepare: ENOMEM (the master is closed with the pipes)
  }
  return {};
}

std::error_code spawn_plan::plan_sandbox(const sandbox_options& s) {
  sandbox_build b;
  if (auto ec = build_sandbox(s, *os_, b, nullptr); ec) return ec;
  needs_engine_ = true;
  recipe_.no_new_privs = true;
  if (b.ruleset_fd >= 0) {
    // Out of the targets' way, like a stdio source, and kept by the child's first step.
    const int copy = source_above(b.ruleset_fd, static_cast<int>(moves_.size()));
    (void)os_->close(b.ruleset_fd);
    if (copy < 0) return errno_code(-copy);
    recipe_.ruleset_fd = copy;
    recipe_.unshare_from = std::max(recipe_.unshare_from, copy + 1);
  }
  if (!b.filter.empty()) {
    filter_ = std::move(b.filter);
    program_.len = static_cast<unsigned short>(filter_.size());
    program_.filter = filter_.data();
    recipe_.seccomp = &program_;
  }
  sandbox_bits_ = pack(b.report);
  return {};
}

std::error_code spawn_plan::plan_fds(const spawn_options& opts) {
  // fds 0-2 always have an entry: /dev/null when the caller gave none (uv_spawn's rule).
  const std::size_t count = std::max<std::size_t>(opts.stdio_map.size(), 3);
  const int n = static_cast<int>(count);
  moves_.reserve(count);
  owned_fds_.reserve(2 * count + 1);
  pipes_.reserve(count + 1);
  if (opts.terminal) {
    if (auto ec = open_terminal(*opts.terminal); ec) return ec;
  }

  // Each source other than the target's own number is copied to n or above, so that
  // in the child no dup2 onto a target can clobber a source still to be used; the child
  // then keeps only the fds below the highest source (see spawn_child.cpp).
  int highest = n - 1;
  for (int t = 0; t < n; ++t) {
    const std::size_t i = static_cast<std::size_t>(t);
    const stdio s = i < opts.stdio_map.size() ? opts.stdio_map[i] : stdio::null();
    fd_move m{t, fd_move::closed};
    int from = -1;       // a parent fd to pass on
    bool fresh = false;  // ours, made for this child: as low as a copy would be
    // The hold is the plan's until taken, after start: its slave is the source.
    const bool on_terminal = terminal_ != nullptr && terminal_slot(opts, i);
    if (on_terminal) {
      from = terminal_->slave();
      fresh = true;
      if (recipe_.controlling_terminal < 0) recipe_.controlling_terminal = t;
    }
    // (The terminal's fds skip the switch: `closed` does nothing there.)
    switch (on_terminal ? stdio::kind::closed : s.how) {
      case stdio::kind::inherit:
        m.source = t;
        break;
      case stdio::kind::dev_null:
        m.source = fd_move::null;
        break;
      case stdio::kind::closed:
        break;
      case stdio::kind::fd:
        if (s.fd < 0 || os_->fd_flags(s.fd) < 0) {
          return errno_code(EBADF);
        }
        from = s.fd;
        break;
      case stdio::kind::stream: {
        if (s.stream == nullptr) return errno_code(EINVAL);
        uv_os_fd_t fd = -1;
        const int r = uv_fileno(reinterpret_cast<const uv_handle_t*>(s.stream), &fd);
        if (r == UV_EBADF) return errno_code(EBADF);
        if (r < 0) return errno_code(EINVAL);
        from = fd;
        break;
      }
      case stdio::kind::pipe: {
        uv_pipe_t* p = s.pipe_handle;
        if (!unopened_pipe(p)) return errno_code(EINVAL);
        for (const pipe_end& e : pipes_) {
          if (e.handle == p) return errno_code(EINVAL);
        }
        int fds[2] = {-1, -1};
        int r = 0;
        const int nb = s.nonblocking ? O_NONBLOCK : 0;
        if (s.direction == stdio::flow::both) {
          r = os_->socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | nb, 0, fds);
        } else {
          r = os_->pipe2(fds, O_CLOEXEC | nb);
        }
        if (r < 0) return errno_code(-r);
        // pipe2: [0] reads, [1] writes. A pipe the child reads gives it the read end.
        const bool child_reads = s.direction == stdio::flow::to_child;
        const int child_end = child_reads ? fds[0] : fds[1];
        pipes_.push_back({p, child_reads ? fds[1] : fds[0]});
        owned_fds_.push_back(child_end);
        from = child_end;
        fresh = true;
        break;
      }
    }
    // uv_spawn's rule: the child's stdio is blocking (a pipe of ours is made that way
    // unless it asked for O_NONBLOCK; an fd or stream given may be non-blocking).
    m.blocking = t <= 2 && !on_terminal &&
                 (s.how == stdio::kind::inherit || s.how == stdio::kind::fd ||
                  s.how == stdio::kind::stream);
    if (from >= 0) {
      if (from == t) {
        m.source = t;
      } else if (fresh && from >= n) {
        m.source = from;  // already out of the targets' way
      } else {
        // A low copy: the child's table is copied up to the highest source.
        const int copy = source_above(from, n);
        if (copy < 0) return errno_code(-copy);
        m.source = copy;
      }
      highest = std::max(highest, m.source);
    }
    moves_.push_back(m);
  }
  recipe_.unshare_from = highest + 1;
  return {};
}

pid_t spawn_plan::start(bool want_pidfd, int* pidfd) noexcept {
  *pidfd = -1;
  static std::atomic<bool> engine_missing{false};  // a kernel without clone's or
                                                   // close_range's flags: posix_spawn
  if (!engine_missing.load(std::memory_order_relaxed)) {
    recipe_.want_pidfd = want_pidfd;
    const pid_t pid = clone_and_exec(recipe_, *os_, pidfd);
    if (pid >= 0 || pid != -ENOSYS) return pid;
    // clone3 refused (an old kernel, a seccomp filter): only a cgroup was asked for, and
    // the caller decides what then (tree::automatic takes a process group).
    if (recipe_.cgroup_fd >= 0) return pid;
    if (recipe_.failed_step != child_step::clone &&
        recipe_.failed_step != child_step::close_range) {
      return pid;
    }
    if (&os_->seam() == &sys::os()) engine_missing.store(true, std::memory_order_relaxed);
  }
  if (needs_engine_ || recipe_.cgroup_fd >= 0) return -ENOSYS;
  return posix_fallback();
}

void spawn_plan::contain(int cgroup_fd, bool own_group) noexcept {
  recipe_.cgroup_fd = cgroup_fd;
  // A session leader leads its own group already.
  if (own_group && !recipe_.new_session) recipe_.new_process_group = true;
}

int spawn_plan::finish() noexcept {
  for (int& fd : owned_fds_)
    close_fd(fd);
  int first_error = 0;
  for (pipe_end& p : pipes_) {
    if (const int r = uv_pipe_open(p.handle, p.parent_fd); r < 0) {
      close_fd(p.parent_fd);
      if (first_error == 0) first_error = r;
      continue;
    }
    p.parent_fd = -1;  // the handle's now
  }
  if (master_out_.fd >= 0) {
    *master_out_.to = master_out_.fd;  // the caller's now
    master_out_.fd = -1;
  }
  return first_error;
}

}  // namespace uvreap::detail
