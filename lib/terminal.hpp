// SPDX-License-Identifier: MIT
// uvreap (private): a child's pty as the reaper holds it (spawn_options::terminal).
#pragma once

namespace uvreap::detail {

/// What the reaper keeps of a child's terminal: the master's fd (its `uv_pipe_t` holds
/// it) and the pty's number, for `reaper::resize`; and a copy of the slave, so that the
/// master reports no hang-up before everything the child wrote has been read.
///
/// Why the copy: once no slave fd is open, a pty master polls EPOLLHUP while data is
/// still queued (up to 4 KiB per read comes out of the line discipline), and libuv takes
/// a hang-up after a short read as the end of the stream: the rest would be lost. The
/// reaper closes the copy (`~terminal_hold`) once the child has exited (with its tree)
/// and `unread()` is false; the master's next read then fails with EIO, the end.
class terminal_hold {
 public:
  terminal_hold(int master, int index, int slave) noexcept
      : master_(master), index_(index), slave_(slave) {}
  ~terminal_hold();
  terminal_hold(const terminal_hold&) = delete;
  terminal_hold& operator=(const terminal_hold&) = delete;

  [[nodiscard]] int slave() const noexcept { return slave_; }

  /// TIOCSWINSZ on the master (the kernel signals SIGWINCH to the terminal's foreground
  /// process group). 0, or -errno: EBADF when the master's fd is no longer this pty's
  /// (its handle was closed, the number perhaps reused).
  int resize(unsigned short cols, unsigned short rows) const noexcept;

  /// The master is still this pty's and has something left to read.
  [[nodiscard]] bool unread() const noexcept;

 private:
  [[nodiscard]] bool master_is_ours() const noexcept;

  int master_;
  int index_;
  int slave_;
};

}  // namespace uvreap::detail
