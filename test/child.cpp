// SPDX-License-Identifier: MIT
// uvreap tests: the helper modes the test binary runs in as a child process.
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "support.hpp"

namespace uvreap::test {

namespace {

[[noreturn]] void die(int code) {
  ::_exit(code);
}

int count_fds_above_2() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 250;
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd > 2 && fd != own) ++n;
  }
  ::closedir(d);
  return n;
}

// The hex mask of a "SigBlk:" / "SigIgn:" line of /proc/self/status.
unsigned long long status_mask(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0) return std::stoull(line.substr(n), nullptr, 16);
  }
  return ~0ull;
}

void drain_stdin() {
  char buf[256];
  for (;;) {
    const ssize_t r = ::read(0, buf, sizeof buf);
    if (r > 0) continue;
    if (r < 0 && errno == EINTR) continue;
    return;
  }
}

}  // namespace

// Modes (exit codes are what the tests assert):
//   exit N                 _exit(N)
//   signal N [core DIR]    die by signal N; with "core", in DIR with RLIMIT_CORE raised
//   wait-stdin N           read stdin to EOF, then _exit(N)
//   ignore-term            ignore SIGTERM, write "r" to stdout, read stdin to EOF, _exit(0)
//   fds                    _exit(number of open fds above 2)
//   sigstate               _exit(1 if any signal blocked, +2 if any ignored)
//   env-eq KEY VALUE       _exit(0 if getenv(KEY) == VALUE, 1 if different, 2 if unset)
//   env-count              _exit(number of environment entries, at most 255)
//   cwd PATH               _exit(0 if the working directory is PATH)
//   sid                    _exit(0 if this process leads its own session)
//   pgid                   _exit(0 if it leads its own group but not a session)
//   write TEXT             write TEXT to stdout, _exit(0)
//   stdin-eof              _exit(0 if stdin reads EOF at once)
//   open-read PATH         _exit(0 if PATH opens for reading, else errno)
//   open-write PATH        _exit(0 if PATH opens for writing, created if missing, else errno)
//   truncate PATH          _exit(0 if truncate(PATH, 0) succeeds, else errno)
//   connect PORT           _exit(0 if a TCP connect to 127.0.0.1:PORT succeeds, else errno)
//   bind                   _exit(0 if binding a TCP socket to 127.0.0.1:0 succeeds, else errno)
//   no-new-privs           _exit(prctl(PR_GET_NO_NEW_PRIVS))
//   ptrace-me              _exit(0 if ptrace(PTRACE_TRACEME) succeeds, else errno)
//   getppid                _exit(0 if getppid() succeeds, else errno)
//   signal-pid PID         _exit(0 if kill(PID, 0) succeeds, else errno)
//   winch                  write "ready\n", wait for SIGWINCH, write "size ROWS COLS\n"
//                          (fd 0's size, TIOCGWINSZ), _exit(0)
//   terminal-state         _exit(0 if fds 0-2 are one terminal, the session's controlling
//                          terminal, with this process's group in the foreground)
void child_main(int argc, char** argv) {
  if (argc < 3) die(200);
  const std::string mode = argv[2];
  auto arg = [&](int i) -> const char* { return i < argc ? argv[i] : ""; };

  if (mode == "exit") die(std::atoi(arg(3)));
  if (mode == "signal") {
    const int sig = std::atoi(arg(3));
    rlimit rl{};
    if (std::strcmp(arg(4), "core") == 0) {
      rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
      if (::setrlimit(RLIMIT_CORE, &rl) != 0 || ::chdir(arg(5)) != 0) die(201);
    } else if (::setrlimit(RLIMIT_CORE, &rl) != 0) {
      die(201);
    }
    std::signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    ::sigprocmask(SIG_UNBLOCK, &s, nullptr);
    ::raise(sig);
    die(202);
  }
  if (mode == "wait-stdin") {
    drain_stdin();
    die(std::atoi(arg(3)));
  }
  if (mode == "ignore-term") {
    std::signal(SIGTERM, SIG_IGN);
    if (::write(1, "r", 1) != 1) die(203);
    drain_stdin();
    die(0);
  }
  if (mode == "fds") die(count_fds_above_2());
  if (mode == "sigstate") {
    const int blocked = status_mask("SigBlk:") != 0 ? 1 : 0;
    const int ignored = status_mask("SigIgn:") != 0 ? 2 : 0;
    die(blocked + ignored);
  }
  if (mode == "env-eq") {
    const char* v = std::getenv(arg(3));
    if (v == nullptr) die(2);
    die(std::strcmp(v, arg(4)) == 0 ? 0 : 1);
  }
  if (mode == "env-count") {
    int n = 0;
    for (char** e = environ; *e != nullptr; ++e)
      ++n;
    die(n > 255 ? 255 : n);
  }
  if (mode == "cwd") {
    char buf[4096];
    if (::getcwd(buf, sizeof buf) == nullptr) die(2);
    die(std::strcmp(buf, arg(3)) == 0 ? 0 : 1);
  }
  if (mode == "sid") die(::getsid(0) == ::getpid() ? 0 : 1);
  if (mode == "pgid") die(::getpgid(0) == ::getpid() && ::getsid(0) != ::getpid() ? 0 : 1);
  if (mode == "write") {
    const std::size_t n = std::strlen(arg(3));
    die(::write(1, arg(3), n) == static_cast<ssize_t>(n) ? 0 : 1);
  }
  if (mode == "nonblocking-fds") {  // bit N set: fd N (0-2) is O_NONBLOCK; 8: an error
    int bits = 0;
    for (int fd = 0; fd <= 2; ++fd) {
      const int fl = ::fcntl(fd, F_GETFL);
      if (fl < 0) die(8);
      if ((fl & O_NONBLOCK) != 0) bits |= 1 << fd;
    }
    die(bits);
  }
  if (mode == "stdin-eof") {
    char c;
    ssize_t r;
    do {
      r = ::read(0, &c, 1);
    } while (r < 0 && errno == EINTR);
    die(r == 0 ? 0 : 1);
  }
  if (mode == "echo") {  // stdin to stdout until EOF
    char buf[4096];
    for (;;) {
      const ssize_t r = ::read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) die(r == 0 ? 0 : 1);
      if (::write(1, buf, static_cast<std::size_t>(r)) != r) die(2);
    }
  }
  if (mode == "write-fd") {  // write-fd N TEXT
    const std::size_t n = std::strlen(arg(4));
    die(::write(std::atoi(arg(3)), arg(4), n) == static_cast<ssize_t>(n) ? 0 : 1);
  }
  if (mode == "write-both") {  // TEXT to stdout, then TEXT to stderr
    const std::size_t n = std::strlen(arg(3));
    const bool ok = ::write(1, arg(3), n) == static_cast<ssize_t>(n) &&
                    ::write(2, arg(3), n) == static_cast<ssize_t>(n);
    die(ok ? 0 : 1);
  }
  if (mode == "ids") {  // ids UID GID: 0 if both match and no supplementary group is left
    const bool ok = ::getuid() == static_cast<uid_t>(std::atol(arg(3))) &&
                    ::getgid() == static_cast<gid_t>(std::atol(arg(4))) &&
                    ::getgroups(0, nullptr) == 0;
    die(ok ? 0 : 1);
  }
  if (mode == "groups") die(::getgroups(0, nullptr));
  if (mode == "umask") die(static_cast<int>(::umask(0)));
  if (mode == "nofile") {  // the soft RLIMIT_NOFILE, which the tests keep below 256
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) die(255);
    die(static_cast<int>(rl.rlim_cur % 256));
  }
  if (mode == "pdeathsig") {
    int sig = 0;
    if (::prctl(PR_GET_PDEATHSIG, &sig) != 0) die(255);
    die(sig);
  }
  if (mode == "fd-open") die(::fcntl(std::atoi(arg(3)), F_GETFD) >= 0 ? 0 : 1);
  auto result = [](long r) { die(r < 0 ? (errno > 0 && errno < 255 ? errno : 254) : 0); };
  if (mode == "open-read") result(::open(arg(3), O_RDONLY | O_CLOEXEC));
  if (mode == "open-write") result(::open(arg(3), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (mode == "truncate") result(::truncate(arg(3), 0));
  if (mode == "connect" || mode == "bind") {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) result(-1);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(mode == "connect" ? std::atoi(arg(3)) : 0));
    const auto* sa = reinterpret_cast<const sockaddr*>(&a);
    result(mode == "connect" ? ::connect(s, sa, sizeof a) : ::bind(s, sa, sizeof a));
  }
  if (mode == "no-new-privs") die(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  if (mode == "ptrace-me") result(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr));
  if (mode == "getppid") result(::syscall(SYS_getppid));
  if (mode == "signal-pid") result(::kill(static_cast<pid_t>(std::atol(arg(3))), 0));
  if (mode == "winch") {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGWINCH);
    if (::sigprocmask(SIG_BLOCK, &s, nullptr) != 0) die(205);
    if (::write(1, "ready\n", 6) != 6) die(203);
    int sig = 0;
    if (::sigwait(&s, &sig) != 0) die(206);
    ::winsize ws{};
    if (::ioctl(0, TIOCGWINSZ, &ws) != 0) die(207);
    const std::string line =
        "size " + std::to_string(ws.ws_row) + " " + std::to_string(ws.ws_col) + "\n";
    if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) die(203);
    die(0);
  }
  if (mode == "terminal-state") {
    const pid_t me = ::getpid();
    struct stat a {}, b {};
    for (int fd = 0; fd <= 2; ++fd) {
      if (::isatty(fd) != 1 || ::fstat(fd, fd == 0 ? &a : &b) != 0) die(1);
      if (fd > 0 && a.st_rdev != b.st_rdev) die(2);
    }
    if (::getsid(0) != me || ::tcgetsid(0) != me) die(3);
    if (::tcgetpgrp(0) != me) die(4);
    die(0);
  }
  die(204);
}

}  // namespace uvreap::test
