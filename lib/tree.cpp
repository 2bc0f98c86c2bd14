// SPDX-License-Identifier: MIT
// uvreap (private): the reaper's cgroup home, its pool of empty cgroups, and each spawn's
// tree before its clone.
#include "tree.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "errno_code.hpp"

namespace uvreap::detail {

namespace {

int open_in(int dir_fd, const char* name) noexcept {
  int fd;
  do {
    fd = ::openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// The whole of a cgroup file through an fd kept open: pread from 0 regenerates it.
std::error_code read_at(int fd, std::string& text) noexcept {
  char buf[1024];
  text.clear();
  off_t at = 0;
  try {
    for (;;) {
      const ssize_t n = ::pread(fd, buf, sizeof buf, at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_code(errno);
      if (n == 0) return {};
      text.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) (void)::close(fd);  // read-only cgroup files: an error frees it too
  fd = -1;
}

}  // namespace

cgroup_slot::~cgroup_slot() {
  const bool had = dir_fd >= 0;
  close_fd(dir_fd);
  close_fd(events_fd);
  close_fd(cpu_fd);
  if (had && fd_budget != nullptr) fd_budget->fetch_add(1, std::memory_order_relaxed);
}

std::error_code cgroup_slot::populated(bool& yes) const noexcept {
  if (events_fd < 0) return dir.populated(yes);
  std::string text;
  if (auto ec = read_at(events_fd, text); ec) return ec;
  return cgroup::parse_populated(text, yes);
}

std::error_code cgroup_slot::cpu_usage(std::chrono::microseconds& usage) const noexcept {
  if (cpu_fd < 0) return dir.cpu_usage(usage);
  std::string text;
  if (auto ec = read_at(cpu_fd, text); ec) return ec;
  return cgroup::parse_cpu_usage(text, usage);
}

tree_birth& tree_birth::operator=(tree_birth&& o) noexcept {
  if (this != &o) {
    close_fd();
    applied = o.applied;
    automatic = o.automatic;
    slot = std::move(o.slot);
    fd = o.fd;
    own_fd = o.own_fd;
    o.applied = uvreap::tree::none;
    o.fd = -1;
    o.own_fd = false;
  }
  return *this;
}

void tree_birth::close_fd() noexcept {
  if (own_fd && fd >= 0) (void)::close(fd);  // a directory: an error frees it too
  fd = -1;
  own_fd = false;
}

void tree_birth::fall_back_to_group() noexcept {
  close_fd();
  slot.reset();  // empty: nobody was born in it
  applied = uvreap::tree::process_group;
}

std::error_code tree_home::make_home() noexcept {
  tried_ = true;
  try {
    std::string parent = parent_;
    if (parent.empty()) {
      if (auto ec = cgroup::own_directory(parent, why_); ec) return error_ = ec;
    }
    // Process-wide: several reapers in one process each make their own.
    static std::atomic<unsigned> serial{0};
    const std::string name = "uvreap-" + std::to_string(::getpid()) + "-" +
                             std::to_string(serial.fetch_add(1, std::memory_order_relaxed) + 1);
    if (auto ec = cgroup::directory::make(parent, name, home_); ec) {
      why_ = "cannot make the cgroup " + parent + "/" + name + ": " + ec.message();
      return error_ = ec;
    }
    // The tree is killed with cgroup.kill (Linux 5.14), or before it by freezing it and
    // killing each member (cgroup.freeze, 5.2); with neither nothing would be sure.
    if (::access((home_.path() + "/cgroup.kill").c_str(), F_OK) != 0 &&
        ::access((home_.path() + "/cgroup.freeze").c_str(), F_OK) != 0) {
      why_ = "the kernel has neither cgroup.kill nor cgroup.freeze (Linux 5.2 or later is "
             "needed) in " + home_.path();
      (void)home_.remove();
      return error_ = errno_code(ENOTSUP);
    }
    has_memory_peak_ = ::access((home_.path() + "/memory.peak").c_str(), F_OK) == 0;
    why_ = home_.path();
    return {};
  } catch (const std::bad_alloc&) {
    tried_ = false;  // try again later
    return errno_code(ENOMEM);
  }
}

std::error_code tree_home::ready(std::string* why) noexcept {
  std::lock_guard<std::mutex> lock(m_);
  std::error_code ec = tried_ ? error_ : make_home();
  if (why != nullptr) {
    try {
      *why = ec == std::errc::not_enough_memory && why_.empty() ? ec.message() : why_;
    } catch (const std::bad_alloc&) {
      why->clear();
    }
  }
  return ec;
}

std::error_code tree_home::make_slot(std::unique_ptr<cgroup_slot>& out) noexcept {
  try {
    std::string home_path;  // a copy: close may remove the home meanwhile
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!home_.made()) return errno_code(ESTALE);
      if (!pool_.empty()) {
        out = std::move(pool_.back());
        pool_.pop_back();
        return {};
      }
      home_path = home_.path();
    }
    auto slot = std::make_unique<cgroup_slot>();
    const std::string name = std::to_string(next_.fetch_add(1, std::memory_order_relaxed) + 1);
    cgroup::directory home = cgroup::directory::borrow(std::move(home_path));
    const std::error_code made = cgroup::directory::make_in(home, name, slot->dir);
    home.forget();  // borrowed: not ours to remove
    if (made) return made;
    // Fds for the hot path while the budget lasts; without them the slot works by path.
    if (fd_budget_.fetch_sub(1, std::memory_order_relaxed) > 0) {
      const int dfd = slot->dir.open_fd();
      const int efd = dfd >= 0 ? open_in(dfd, "cgroup.events") : -1;
      const int cfd = efd >= 0 ? open_in(dfd, "cpu.stat") : -1;
      if (cfd >= 0) {
        slot->dir_fd = dfd;
        slot->events_fd = efd;
        slot->cpu_fd = cfd;
        slot->fd_budget = &fd_budget_;
      } else {
        for (int fd : {dfd, efd})
          if (fd >= 0) (void)::close(fd);
        fd_budget_.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      fd_budget_.fetch_add(1, std::memory_order_relaxed);
    }
    out = std::move(slot);
    return {};
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::error_code tree_home::prepare(uvreap::tree mode, tree_birth& birth) noexcept {
  birth = tree_birth{};
  if (mode == uvreap::tree::none) return {};
  birth.automatic = mode == uvreap::tree::automatic;
  if (mode == uvreap::tree::process_group) {
    birth.applied = mode;
    return {};
  }
  if (std::error_code ec = ready(nullptr); ec) {
    if (mode != uvreap::tree::automatic || ec == std::errc::not_enough_memory) return ec;
    birth.applied = uvreap::tree::process_group;
    return {};
  }
  if (std::error_code ec = make_slot(birth.slot); ec) {
    if (mode != uvreap::tree::automatic || ec == std::errc::not_enough_memory) return ec;
    birth.applied = uvreap::tree::process_group;
    return {};
  }
  if (birth.slot->dir_fd >= 0) {
    birth.fd = birth.slot->dir_fd;
  } else {
    const int fd = birth.slot->dir.open_fd();
    if (fd < 0) {
      give_back(std::move(birth.slot));  // empty, and fine for another try
      return errno_code(-fd);
    }
    birth.fd = fd;
    birth.own_fd = true;
  }
  birth.applied = uvreap::tree::cgroup;
  return {};
}

void tree_home::give_back(std::unique_ptr<cgroup_slot> slot) noexcept {
  if (!slot) return;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (home_.made() && !has_memory_peak_ && !slot->killed && pool_.size() < kPoolMax) {
      try {
        pool_.push_back(std::move(slot));
        return;
      } catch (const std::bad_alloc&) {
      }
    }
  }
  slot.reset();  // outside the lock: rmdir
}

std::error_code tree_home::remove() noexcept {
  std::vector<std::unique_ptr<cgroup_slot>> pool;
  {
    std::lock_guard<std::mutex> lock(m_);
    pool.swap(pool_);
  }
  pool.clear();  // each removed (empty)
  std::lock_guard<std::mutex> lock(m_);
  return home_.remove();
}

}  // namespace uvreap::detail
