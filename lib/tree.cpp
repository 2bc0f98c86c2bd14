// SPDX-License-Identifier: MIT
// uvreap (private): the reaper's cgroup home and each spawn's tree before its clone.
#include "tree.hpp"

#include <unistd.h>

#include <cerrno>

#include "errno_code.hpp"

namespace uvreap::detail {

tree_birth& tree_birth::operator=(tree_birth&& o) noexcept {
  if (this != &o) {
    close_fd();
    applied = o.applied;
    automatic = o.automatic;
    dir = std::move(o.dir);
    fd = o.fd;
    o.applied = uvreap::tree::none;
    o.fd = -1;
  }
  return *this;
}

void tree_birth::close_fd() noexcept {
  if (fd >= 0) (void)::close(fd);  // a directory fd: nothing to flush, an error frees it too
  fd = -1;
}

void tree_birth::fall_back_to_group() noexcept {
  close_fd();
  (void)dir.remove();  // empty: nobody was born in it
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
    // The tree is killed with cgroup.kill (Linux 5.14); without it nothing would be sure.
    if (::access((home_.path() + "/cgroup.kill").c_str(), F_OK) != 0) {
      why_ = "the kernel has no cgroup.kill (Linux 5.14 or later is needed) in " + home_.path();
      (void)home_.remove();
      return error_ = errno_code(ENOTSUP);
    }
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
  try {
    cgroup::directory home;  // a copy of its path: close may remove the home meanwhile
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!home_.made()) return errno_code(ESTALE);
      home = cgroup::directory::borrow(home_.path());
    }
    const std::string name = std::to_string(next_.fetch_add(1, std::memory_order_relaxed) + 1);
    const std::error_code made = cgroup::directory::make_in(home, name, birth.dir);
    home.forget();
    if (auto ec = made; ec) {
      if (mode != uvreap::tree::automatic) return ec;
      birth.applied = uvreap::tree::process_group;
      return {};
    }
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
  const int fd = birth.dir.open_fd();
  if (fd < 0) {
    (void)birth.dir.remove();
    return errno_code(-fd);
  }
  birth.fd = fd;
  birth.applied = uvreap::tree::cgroup;
  return {};
}

std::error_code tree_home::remove() noexcept {
  std::lock_guard<std::mutex> lock(m_);
  return home_.remove();
}

}  // namespace uvreap::detail
