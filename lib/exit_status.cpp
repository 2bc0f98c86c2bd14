// SPDX-License-Identifier: MIT
// uvreap: decoding of raw wait statuses. The only place that applies the W* macros.
#include "uvreap/exit_status.hpp"

#include <sys/resource.h>
#include <sys/wait.h>

#include <ostream>

#include "exit_status_builder.hpp"

namespace uvreap {

namespace {

std::chrono::microseconds to_us(const timeval& tv) noexcept {
  return std::chrono::seconds{tv.tv_sec} + std::chrono::microseconds{tv.tv_usec};
}

}  // namespace

exit_status exit_status::from_wait(pid_t pid, int raw_status, const ::rusage* usage) noexcept {
  exit_status s;
  s.pid_ = pid;
  s.raw_ = raw_status;
  if (WIFEXITED(raw_status)) {
    s.kind_ = exit_kind::exited;
    s.code_ = WEXITSTATUS(raw_status);
  } else if (WIFSIGNALED(raw_status)) {
    s.kind_ = exit_kind::signaled;
    s.signal_ = WTERMSIG(raw_status);
    s.core_dumped_ = WCOREDUMP(raw_status);
  } else {
    // A stopped or continued status is not an exit; the reaper never asks for those
    // (no WUNTRACED/WCONTINUED), so reaching here means the caller broke the contract.
    // Report it as lost rather than inventing a code.
    s.kind_ = exit_kind::lost;
  }
  if (usage != nullptr) {
    s.usage_.user_cpu = to_us(usage->ru_utime);
    s.usage_.system_cpu = to_us(usage->ru_stime);
    s.usage_.max_rss_kib = usage->ru_maxrss;
  }
  return s;
}

exit_status detail::exit_status_builder::lost(pid_t pid) noexcept {
  exit_status s;
  s.pid_ = pid;
  s.kind_ = exit_kind::lost;
  return s;
}

exit_status detail::exit_status_builder::exited(pid_t pid, int code) noexcept {
  exit_status s;
  s.pid_ = pid;
  s.kind_ = exit_kind::exited;
  s.code_ = code & 0xff;
  s.raw_ = (code & 0xff) << 8;
  return s;
}

exit_status detail::exit_status_builder::signaled(pid_t pid, int signal,
                                                  bool core_dumped) noexcept {
  exit_status s;
  s.pid_ = pid;
  s.kind_ = exit_kind::signaled;
  s.signal_ = signal & 0x7f;
  s.core_dumped_ = core_dumped;
  s.raw_ = (signal & 0x7f) | (core_dumped ? 0x80 : 0);
  return s;
}

std::string_view to_string(exit_kind k) noexcept {
  switch (k) {
    case exit_kind::exited:
      return "exited";
    case exit_kind::signaled:
      return "signaled";
    case exit_kind::lost:
      return "lost";
  }
  return "unknown";
}

std::string_view to_string(uvreap::tree t) noexcept {
  switch (t) {
    case uvreap::tree::none:
      return "none";
    case uvreap::tree::cgroup:
      return "cgroup";
    case uvreap::tree::process_group:
      return "process_group";
    case uvreap::tree::automatic:
      return "automatic";
  }
  return "unknown";
}

std::string to_string(const exit_status& s) {
  std::string out = "pid " + std::to_string(s.pid());
  switch (s.kind()) {
    case exit_kind::exited:
      out += " exited with code " + std::to_string(s.code());
      break;
    case exit_kind::signaled:
      out += " killed by signal " + std::to_string(s.signal()) +
             (s.core_dumped() ? " (core dumped)" : "");
      break;
    case exit_kind::lost:
      out += " lost (reaped elsewhere)";
      break;
  }
  if (s.deadline_fired()) out += " after its deadline";
  if (const int n = s.tree_info().descendants_at_exit; n > 0) {
    out += " (" + std::to_string(n) + (n == 1 ? " descendant" : " descendants") + " killed)";
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, exit_kind k) {
  return os << to_string(k);
}
std::ostream& operator<<(std::ostream& os, uvreap::tree t) {
  return os << to_string(t);
}
std::ostream& operator<<(std::ostream& os, const exit_status& s) {
  return os << to_string(s);
}

}  // namespace uvreap
