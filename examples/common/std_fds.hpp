// SPDX-License-Identifier: MIT
// uvreap example programs: fds 0, 1 and 2 are open before anything else opens an fd.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace uvreap::examples {

/// Opens /dev/null on each of fds 0-2 that is closed (a program started with `<&-`).
/// Otherwise the next open() takes the lowest free number: libuv's epoll fd would become
/// fd 0 and be handed to children as their stdin, and libuv asserts at exit that it
/// never closes an fd below 3. False when /dev/null cannot be opened.
inline bool open_standard_fds() noexcept {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int got;
    do {
      got = ::open("/dev/null", O_RDWR);  // the lowest free fd: this one
    } while (got < 0 && errno == EINTR);
    if (got != fd) {
      if (got >= 0) ::close(got);
      return false;
    }
  }
  return true;
}

}  // namespace uvreap::examples
