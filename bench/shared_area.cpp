// SPDX-License-Identifier: MIT
// uvreap-bench: the shared memfd mapping.
#include "shared_area.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace uvreap::bench {

shared_area::shared_area(std::uint32_t slot_count) : count_(slot_count) {
  size_ = sizeof(header) + sizeof(slot) * static_cast<std::size_t>(slot_count);
  // Not CLOEXEC-free: exec'd helpers open it by path, they do not inherit it.
  fd_ = ::memfd_create("uvreap-bench", MFD_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    ::close(fd_);
    throw std::runtime_error(std::string("ftruncate: ") + std::strerror(errno));
  }
  base_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (base_ == MAP_FAILED) {
    ::close(fd_);
    throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
  }
  head_ = new (base_) header{};
  slots_ = reinterpret_cast<slot*>(static_cast<char*>(base_) + sizeof(header));
  path_ = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_);
}

shared_area::~shared_area() {
  ::munmap(base_, size_);
  ::close(fd_);
}

void shared_area::reset() noexcept {
  std::memset(base_, 0, size_);
}

void* map_existing(const char* path, std::size_t* size) noexcept {
  // "fd:N": inherited as fd N (a sandboxed child cannot open it by path).
  const int fd = std::strncmp(path, "fd:", 3) == 0 ? std::atoi(path + 3) : ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return nullptr;
  *size = static_cast<std::size_t>(st.st_size);
  return p;
}

}  // namespace uvreap::bench
