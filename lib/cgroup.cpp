// SPDX-License-Identifier: MIT
// uvreap (private): cgroup v2 discovery and the directories the library makes.
#include "cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "errno_code.hpp"

namespace uvreap::detail::cgroup {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
        s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Calls `f(line)` for each line of `text` (without its newline) until `f` returns true;
// true when one did.
template <class F>
bool any_line(std::string_view text, F&& f) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    if (f(text.substr(pos, end - pos))) return true;
    pos = end + 1;
  }
  return false;
}

// The next whitespace-separated field of `line` from `pos`.
std::string_view field(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && line[pos] == ' ')
    ++pos;
  const std::size_t start = pos;
  while (pos < line.size() && line[pos] != ' ')
    ++pos;
  return line.substr(start, pos - start);
}

// The value of "key value" in a flat keyed file (cgroup.events, cpu.stat).
bool keyed_value(std::string_view text, std::string_view key, std::uint64_t& value) {
  bool ok = false;
  any_line(text, [&](std::string_view line) {
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ') {
      return false;
    }
    const std::string digits(line.substr(key.size() + 1));
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos) {
      errno = 0;
      value = std::strtoull(digits.c_str(), nullptr, 10);
      ok = errno == 0;
    }
    return true;  // the first line with the key decides
  });
  return ok;
}

std::error_code read_all(const std::string& path, std::string& text) noexcept {
  try {
    text.clear();
    int fd;
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_code(errno);
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        return errno_code(err);
      }
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return {};
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

}  // namespace

std::error_code find_v2_mount(std::string_view mountinfo, std::string& mount_point) {
  // Each line: id parent major:minor root mount-point options [optional...] - type source super
  const bool found = any_line(mountinfo, [&](std::string_view line) {
    std::size_t at = 0;
    for (int i = 0; i < 4; ++i)
      (void)field(line, at);  // id, parent, major:minor, root
    const std::string_view where = field(line, at);
    const std::size_t dash = line.find(" - ", at);
    if (where.empty() || dash == std::string_view::npos) return false;
    std::size_t t = dash + 3;
    if (field(line, t) != "cgroup2") return false;
    mount_point = unescape(where);
    return true;
  });
  return found ? std::error_code{} : errno_code(ENOENT);
}

std::error_code own_path(std::string_view proc_self_cgroup, std::string& path) {
  const bool found = any_line(proc_self_cgroup, [&](std::string_view line) {
    if (line.size() < 4 || line.substr(0, 3) != "0::" || line[3] != '/') return false;
    path = std::string(line.substr(3));
    return true;
  });
  return found ? std::error_code{} : errno_code(ENOENT);
}

std::error_code parse_populated(std::string_view events, bool& populated) {
  std::uint64_t v = 0;
  if (!keyed_value(events, "populated", v) || v > 1) return errno_code(EINVAL);
  populated = v == 1;
  return {};
}

std::error_code parse_cpu_usage(std::string_view cpu_stat, std::chrono::microseconds& usage) {
  std::uint64_t v = 0;
  if (!keyed_value(cpu_stat, "usage_usec", v)) return errno_code(EINVAL);
  usage = std::chrono::microseconds(static_cast<std::int64_t>(v));
  return {};
}

std::error_code own_directory(std::string& dir, std::string& why) {
  try {
    std::string mountinfo, self;
    if (auto ec = read_all("/proc/self/mountinfo", mountinfo); ec) {
      why = "cannot read /proc/self/mountinfo: " + ec.message();
      return ec;
    }
    std::string mount;
    if (auto ec = find_v2_mount(mountinfo, mount); ec) {
      why = "no cgroup v2 hierarchy is mounted (no cgroup2 line in /proc/self/mountinfo)";
      return ec;
    }
    if (auto ec = read_all("/proc/self/cgroup", self); ec) {
      why = "cannot read /proc/self/cgroup: " + ec.message();
      return ec;
    }
    std::string rel;
    if (auto ec = own_path(self, rel); ec) {
      why = "this process is in no cgroup v2 (no 0:: line in /proc/self/cgroup)";
      return ec;
    }
    dir = rel == "/" ? mount : mount + rel;
    return {};
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

directory& directory::operator=(directory&& o) noexcept {
  if (this != &o) {
    (void)remove();
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

directory::~directory() {
  (void)remove();
}

std::error_code directory::make(const std::string& parent, const std::string& name,
                                directory& out) noexcept {
  try {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return errno_code(EINVAL);
    }
    struct stat st {};
    const std::string procs = parent + "/cgroup.procs";
    if (::stat(parent.c_str(), &st) != 0) return errno_code(errno);
    if (!S_ISDIR(st.st_mode)) return errno_code(ENOTDIR);
    if (::stat(procs.c_str(), &st) != 0) return errno_code(EINVAL);  // not a cgroup
    std::string path = parent + "/" + name;
    if (::mkdir(path.c_str(), 0755) != 0) return errno_code(errno);
    out = directory(std::move(path));
    return {};
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

int directory::open_fd() const noexcept {
  int fd;
  do {
    fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

std::error_code directory::make_in(const directory& parent, const std::string& name,
                                   directory& out) noexcept {
  try {
    std::string path = parent.path_ + "/" + name;
    if (::mkdir(path.c_str(), 0755) != 0) return errno_code(errno);
    out = directory(std::move(path));
    return {};
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::error_code directory::write_file(const char* name, std::string_view text) const noexcept {
  try {
    const std::string file = path_ + "/" + name;
    int fd;
    do {
      fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_code(errno);
    ssize_t n;
    do {
      n = ::write(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    const int err = n == static_cast<ssize_t>(text.size()) ? 0 : (n < 0 ? errno : EIO);
    ::close(fd);
    return err == 0 ? std::error_code{} : errno_code(err);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::error_code directory::kill() const noexcept {
  const std::error_code ec = write_file("cgroup.kill", "1");
  return ec == std::errc::no_such_file_or_directory ? kill_frozen() : ec;
}

std::error_code directory::kill_frozen() const noexcept {
  if (std::error_code ec = freeze(true); ec) {
    return ec == std::errc::no_such_file_or_directory ? errno_code(ENOTSUP) : ec;
  }
  std::error_code result;
  try {
    std::vector<pid_t> killed;
    std::vector<pid_t> listed;
    // A process that was forking when the freeze came may add a child after a listing;
    // once frozen, none can. Each round kills what is new; a round with nothing new ends
    // it (the dying ones may still be listed). Bounded, in case the freeze never settles.
    for (int round = 0; round < 1000; ++round) {
      if (result = members(listed); result) break;
      bool fresh = false;
      for (pid_t p : listed) {
        if (std::find(killed.begin(), killed.end(), p) != killed.end()) continue;
        fresh = true;
        if (::kill(p, SIGKILL) != 0 && errno != ESRCH && !result) result = errno_code(errno);
        killed.push_back(p);
      }
      if (!fresh) break;
    }
  } catch (const std::bad_alloc&) {
    result = errno_code(ENOMEM);
  }
  const std::error_code thawed = freeze(false);
  return result ? result : thawed;
}

std::error_code directory::freeze(bool yes) const noexcept {
  return write_file("cgroup.freeze", yes ? "1" : "0");
}

std::error_code directory::members(std::vector<pid_t>& pids) const noexcept {
  std::string text;
  if (auto ec = read_file("cgroup.procs", text); ec) return ec;
  try {
    pids.clear();
    any_line(text, [&](std::string_view line) {
      const std::string digits(line);
      const long v = std::strtol(digits.c_str(), nullptr, 10);
      if (v > 0) pids.push_back(static_cast<pid_t>(v));
      return false;
    });
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  return {};
}

std::error_code directory::count(int& n) const noexcept {
  std::vector<pid_t> pids;
  if (auto ec = members(pids); ec) return ec;
  n = static_cast<int>(pids.size());
  return {};
}

std::error_code directory::memory_peak(long long& bytes) const noexcept {
  std::string text;
  if (auto ec = read_file("memory.peak", text); ec) return ec;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  if (errno != 0 || v < 0) return errno_code(EINVAL);
  bytes = v;
  return {};
}

std::error_code directory::read_file(const char* name, std::string& text) const noexcept {
  try {
    return read_all(path_ + "/" + name, text);
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::error_code directory::populated(bool& yes) const noexcept {
  std::string text;
  if (auto ec = read_file("cgroup.events", text); ec) return ec;
  return parse_populated(text, yes);
}

std::error_code directory::cpu_usage(std::chrono::microseconds& usage) const noexcept {
  std::string text;
  if (auto ec = read_file("cpu.stat", text); ec) return ec;
  return parse_cpu_usage(text, usage);
}

std::error_code directory::remove() noexcept {
  if (path_.empty()) return {};
  if (::rmdir(path_.c_str()) != 0 && errno != ENOENT) return errno_code(errno);
  path_.clear();
  return {};
}

}  // namespace uvreap::detail::cgroup
