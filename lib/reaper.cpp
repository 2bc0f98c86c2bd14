// SPDX-License-Identifier: MIT
// uvreap: the public reaper — an owning front of detail::core, and each fallible call in
// its two forms (std::error_code and throwing).
#include "uvreap/reaper.hpp"

#include <ostream>
#include <utility>

#include "core.hpp"
#include "errno_code.hpp"

namespace uvreap {

using detail::errno_code;

std::string_view to_string(policy p) noexcept {
  switch (p) {
    case policy::own:
      return "own";
    case policy::all:
      return "all";
    case policy::pidfd:
      return "pidfd";
  }
  return "unknown";
}
std::ostream& operator<<(std::ostream& os, policy p) {
  return os << to_string(p);
}

namespace {

std::error_code stale() noexcept {
  return errno_code(ESTALE);
}

void throw_if(const std::error_code& ec, const char* what) {
  if (ec) throw std::system_error(ec, what);
}

}  // namespace

reaper::reaper(std::shared_ptr<detail::core> p) noexcept : core_(std::move(p)) {}

reaper::reaper(uv_loop_t* loop, options opts) {
  std::error_code ec;
  auto r = create(loop, std::move(opts), ec);
  if (!r) throw std::system_error(ec, "uvreap: reaper");
  core_ = std::move(r->core_);
}

std::optional<reaper> reaper::create(uv_loop_t* loop, options opts, std::error_code& ec) noexcept {
  ec.clear();
  std::shared_ptr<detail::core> p;
  try {
    p = std::make_shared<detail::core>(loop, std::move(opts));
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return std::nullopt;
  }
  if (ec = p->start(p); ec) return std::nullopt;
  return std::optional<reaper>(reaper(std::move(p)));
}

reaper::reaper(reaper&& other) noexcept = default;

reaper& reaper::operator=(reaper&& other) noexcept {
  if (this != &other) {
    if (core_) core_->close(core_->opts().on_destroy, {});
    core_ = std::move(other.core_);
  }
  return *this;
}

reaper::~reaper() {
  if (core_) core_->close(core_->opts().on_destroy, {});
}

pid_t reaper::spawn(const spawn_options& opts, exit_callback on_exit,
                    std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return -1;
  }
  return core_->spawn(opts, std::move(on_exit), ec);
}

pid_t reaper::spawn(const spawn_options& opts, exit_callback on_exit) {
  std::error_code ec;
  const pid_t pid = spawn(opts, std::move(on_exit), ec);
  throw_if(ec, "uvreap: spawn");
  return pid;
}

void reaper::spawn_async(const spawn_options& opts, started_callback on_started,
                         exit_callback on_exit, std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return;
  }
  core_->spawn_async(opts, std::move(on_started), std::move(on_exit), ec);
}

void reaper::spawn_async(const spawn_options& opts, started_callback on_started,
                         exit_callback on_exit) {
  std::error_code ec;
  spawn_async(opts, std::move(on_started), std::move(on_exit), ec);
  throw_if(ec, "uvreap: spawn_async");
}

void reaper::watch(pid_t pid, exit_callback on_exit, std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return;
  }
  core_->watch(pid, std::move(on_exit), ec);
}

void reaper::watch(pid_t pid, exit_callback on_exit) {
  std::error_code ec;
  watch(pid, std::move(on_exit), ec);
  throw_if(ec, "uvreap: watch");
}

void reaper::kill(pid_t pid, int sig, std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return;
  }
  core_->kill(pid, sig, ec);
}

void reaper::kill(pid_t pid, int sig) {
  std::error_code ec;
  kill(pid, sig, ec);
  throw_if(ec, "uvreap: kill");
}

pid_t reaper::run(const spawn_options& opts, run_options how, run_callback done,
                  std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return -1;
  }
  return core_->run(opts, std::move(how), std::move(done), ec);
}

pid_t reaper::run(const spawn_options& opts, run_options how, run_callback done) {
  std::error_code ec;
  const pid_t pid = run(opts, std::move(how), std::move(done), ec);
  throw_if(ec, "uvreap: run");
  return pid;
}

void reaper::kill_tree(pid_t pid, int sig, std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return;
  }
  core_->kill_tree(pid, sig, ec);
}

void reaper::kill_tree(pid_t pid, int sig) {
  std::error_code ec;
  kill_tree(pid, sig, ec);
  throw_if(ec, "uvreap: kill_tree");
}

void reaper::resize(pid_t pid, int cols, int rows, std::error_code& ec) noexcept {
  if (!core_) {
    ec = stale();
    return;
  }
  core_->resize(pid, cols, rows, ec);
}

void reaper::resize(pid_t pid, int cols, int rows) {
  std::error_code ec;
  resize(pid, cols, rows, ec);
  throw_if(ec, "uvreap: resize");
}

std::error_code reaper::sandbox_status(const sandbox_options& s, sandbox_report* what,
                                       std::string* why) noexcept {
  if (!core_) return stale();
  return core_->sandbox_status(s, what, why);
}

std::error_code reaper::cgroup_status(std::string* why) noexcept {
  if (!core_) return stale();
  return core_->cgroup_status(why);
}

bool reaper::close(close_options how, std::function<void()> on_closed) noexcept {
  return core_ && core_->close(how, std::move(on_closed));
}

bool reaper::watching(pid_t pid) const noexcept {
  return core_ && core_->watching(pid);
}
std::size_t reaper::size() const noexcept {
  return core_ ? core_->size() : 0;
}
bool reaper::closed() const noexcept {
  return !core_ || !core_->open();
}
uvreap::stats reaper::stats() const noexcept {
  return core_ ? core_->counters() : uvreap::stats{};
}
uv_loop_t* reaper::loop() const noexcept {
  return core_ ? core_->loop() : nullptr;
}
policy reaper::reap_policy() const noexcept {
  return core_ ? core_->effective_policy() : policy::own;
}
std::chrono::milliseconds reaper::poll_interval() const noexcept {
  return core_ ? core_->poll_interval() : std::chrono::milliseconds{0};
}

}  // namespace uvreap
