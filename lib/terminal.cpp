// SPDX-License-Identifier: MIT
// uvreap (private): the reaper's hold on a child's pty — resize, and whether its master
// has been read to the end.
#include "terminal.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace uvreap::detail {

terminal_hold::~terminal_hold() {
  // Raw close: the hold outlives the spawn's os_calls. An error still releases the fd.
  if (slave_ >= 0) (void)::close(slave_);
}

bool terminal_hold::master_is_ours() const noexcept {
  // The fd may have been closed with its handle and its number given to another file
  // (or another pty) since: only the same pty's master counts.
  int index = -1;
  return ::ioctl(master_, TIOCGPTN, &index) == 0 && index == index_;
}

int terminal_hold::resize(unsigned short cols, unsigned short rows) const noexcept {
  if (!master_is_ours()) return -EBADF;
  const ::winsize size{rows, cols, 0, 0};
  return ::ioctl(master_, TIOCSWINSZ, &size) < 0 ? -errno : 0;
}

bool terminal_hold::unread() const noexcept {
  if (!master_is_ours()) return false;
  // The line discipline's poll first waits for the pty's pending pushes, so "not
  // readable" means nothing is queued anywhere on the way to the master's reader.
  ::pollfd p{master_, POLLIN, 0};
  int r = 0;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & POLLIN) != 0;
}

}  // namespace uvreap::detail
