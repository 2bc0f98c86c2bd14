// SPDX-License-Identifier: MIT
// uvreap: what to start and how, for reaper::spawn.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace uvreap {

/// Where one of the child's standard fds (0, 1, 2) comes from.
struct stdio {
  enum class kind : unsigned char {
    inherit,   ///< the parent's fd of the same number
    dev_null,  ///< /dev/null, opened read-write
    fd,        ///< a given open fd of the parent (dup2'ed; the parent keeps its copy)
  };
  kind how = kind::inherit;
  int fd = -1;  ///< with kind::fd

  [[nodiscard]] static stdio inherit() noexcept { return {}; }
  [[nodiscard]] static stdio null() noexcept { return {kind::dev_null, -1}; }
  [[nodiscard]] static stdio from_fd(int fd) noexcept { return {kind::fd, fd}; }
};

/// How to start a child. Every string must be free of NUL bytes.
///
/// In the child, whatever the parent had: the signal mask is empty, every signal's
/// disposition is the default (SIG_IGN included, so a server's ignored SIGPIPE does not
/// leak), and every fd above 2 is closed (fds named in `stdio` are dup2'ed to 0-2 first).
struct spawn_options {
  /// argv[0] is the program unless `file` is set. Must not be empty.
  std::vector<std::string> argv;
  /// The program to execute; empty means argv[0].
  std::string file;
  /// Look the program up in the parent's PATH when it has no '/' (posix_spawnp).
  bool search_path = true;
  /// The environment, each entry "KEY=value"; nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  /// The working directory; empty inherits the parent's.
  std::string cwd;
  /// Standard input, output and error.
  std::array<stdio, 3> stdio_map{};
  /// setsid() in the child: a new session and process group, no controlling terminal.
  bool new_session = false;
  /// setpgid(0, 0) in the child: a new process group (exclusive with new_session).
  bool new_process_group = false;
};

}  // namespace uvreap
