// SPDX-License-Identifier: MIT
// uvreap: the OS seam's kernel implementation. The library's syscalls in the parent are
// made here; the spawn engine's child makes its own raw ones (spawn_child.cpp).
#include "uvreap/testing/sys.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <termios.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#ifdef __GLIBC__
// glibc's own name for clone(2). ThreadSanitizer intercepts `clone` and runs its
// after-fork bookkeeping in the child, which shares our memory here and so corrupts the
// parent's state; `__clone` is the same function without the interceptor.
extern "C" int __clone(int (*fn)(void*), void* stack, int flags, void* arg, ...);
#define UVREAP_CLONE __clone
#else
#define UVREAP_CLONE ::clone
#endif

#if defined(__x86_64__)
// clone3 for a child that shares our memory (CLONE_VM) on a stack of its own. glibc 2.36
// exports no clone3, and a plain syscall() cannot be used: the child would return into
// C++ code on a stack with no frame. This entry makes the call and, in the child, calls
// fn(arg) on the new stack and exits with its result. Arguments: rdi = clone_args,
// rsi = its size, rdx = fn, rcx = arg; the syscall keeps r8 and r9 (it clobbers only rax,
// rcx and r11), and the kernel starts the child with the parent's registers and rsp at
// the top of the new stack.
extern "C" long uvreap_detail_clone3(void* args, std::size_t size, int (*fn)(void*), void* arg);
__asm__(
    ".text\n"
    ".globl uvreap_detail_clone3\n"
    ".hidden uvreap_detail_clone3\n"
    ".type uvreap_detail_clone3,@function\n"
    "uvreap_detail_clone3:\n"
    "  .cfi_startproc\n"
    "  mov %rdx, %r8\n"
    "  mov %rcx, %r9\n"
    "  mov $435, %eax\n"  // __NR_clone3
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jz 1f\n"
    "  ret\n"  // the parent: the pid, or -errno
    "1:\n"
    "  .cfi_undefined rip\n"
    "  xor %ebp, %ebp\n"
    "  and $-16, %rsp\n"
    "  mov %r9, %rdi\n"
    "  call *%r8\n"
    "  mov %eax, %edi\n"
    "  mov $60, %eax\n"  // __NR_exit
    "  syscall\n"
    "  hlt\n"
    "  .cfi_endproc\n"
    ".size uvreap_detail_clone3, .-uvreap_detail_clone3\n");
#endif

namespace uvreap::sys {

interface::~interface() = default;

pid_t interface::wait4(pid_t pid, int* status, int options, ::rusage* usage) noexcept {
  const pid_t r = ::wait4(pid, status, options, usage);
  return r < 0 ? -errno : r;
}

int interface::waitid(idtype_t type, id_t id, siginfo_t* info, int options) noexcept {
  return ::waitid(type, id, info, options) < 0 ? -errno : 0;
}

int interface::kill(pid_t pid, int sig) noexcept {
  return ::kill(pid, sig) < 0 ? -errno : 0;
}

int interface::spawn(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                     const posix_spawnattr_t* attr, char* const argv[], char* const envp[],
                     bool search_path) noexcept {
  // posix_spawn returns the error number instead of setting errno.
  const int r = search_path ? ::posix_spawnp(pid, file, actions, attr, argv, envp)
                            : ::posix_spawn(pid, file, actions, attr, argv, envp);
  return -r;
}

pid_t interface::clone(int (*fn)(void*), void* stack_top, int flags, void* arg,
                       int* pidfd) noexcept {
  const pid_t r = UVREAP_CLONE(fn, stack_top, flags, arg, pidfd);
  return r < 0 ? -errno : r;
}

pid_t interface::clone_into_cgroup(int (*fn)(void*), void* stack, std::size_t stack_size,
                                   int flags, void* arg, int* pidfd, int cgroup_fd) noexcept {
#if defined(__x86_64__)
  // struct clone_args of <linux/sched.h> (its first version with `cgroup`, Linux 5.7).
  struct {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
  } a{};
  constexpr std::uint64_t kIntoCgroup = 0x200000000ULL;  // CLONE_INTO_CGROUP
  const auto f = static_cast<unsigned>(flags);
  a.flags = (f & ~0xffU) | kIntoCgroup;
  a.exit_signal = f & 0xffU;
  a.pidfd = reinterpret_cast<std::uintptr_t>(pidfd);
  a.stack = reinterpret_cast<std::uintptr_t>(stack);
  a.stack_size = stack_size;
  a.cgroup = static_cast<std::uint64_t>(cgroup_fd);
  const long r = uvreap_detail_clone3(&a, sizeof a, fn, arg);
  // Linux 5.3 to 5.6 have clone3 but not CLONE_INTO_CGROUP, and refuse the flag with
  // EINVAL (the other arguments are fixed here): that is "not on this kernel".
  if (r == -EINVAL) return -ENOSYS;
  return static_cast<pid_t>(r);  // the raw syscall's result: the pid, or -errno
#else
  (void)fn, (void)stack, (void)stack_size, (void)flags, (void)arg, (void)pidfd, (void)cgroup_fd;
  return -ENOSYS;
#endif
}

int interface::pipe2(int fds[2], int flags) noexcept {
  return ::pipe2(fds, flags) < 0 ? -errno : 0;
}

int interface::socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  return ::socketpair(domain, type, protocol, fds) < 0 ? -errno : 0;
}

int interface::get_sigaction(int sig, struct sigaction* old) noexcept {
  return ::sigaction(sig, nullptr, old) < 0 ? -errno : 0;
}

int interface::get_sigmask(sigset_t* mask) noexcept {
  // pthread_sigmask returns the error number instead of setting errno.
  return -::pthread_sigmask(SIG_BLOCK, nullptr, mask);
}

int interface::get_child_subreaper(int* on) noexcept {
  return ::prctl(PR_GET_CHILD_SUBREAPER, on, 0, 0, 0) < 0 ? -errno : 0;
}

int interface::set_child_subreaper(int on) noexcept {
  return ::prctl(PR_SET_CHILD_SUBREAPER, static_cast<unsigned long>(on), 0, 0, 0) < 0 ? -errno : 0;
}

int interface::pidfd_open(pid_t pid, unsigned flags) noexcept {
#ifdef SYS_pidfd_open
  const long r = ::syscall(SYS_pidfd_open, pid, flags);
  return r < 0 ? -errno : static_cast<int>(r);
#else
  (void)pid;
  (void)flags;
  return -ENOSYS;
#endif
}

int interface::epoll_create1(int flags) noexcept {
  const int r = ::epoll_create1(flags);
  return r < 0 ? -errno : r;
}

int interface::epoll_ctl(int epfd, int op, int fd, ::epoll_event* event) noexcept {
  return ::epoll_ctl(epfd, op, fd, event) < 0 ? -errno : 0;
}

int interface::epoll_wait(int epfd, ::epoll_event* events, int max_events,
                          int timeout_ms) noexcept {
  const int r = ::epoll_wait(epfd, events, max_events, timeout_ms);
  return r < 0 ? -errno : r;
}

int interface::fd_flags(int fd) noexcept {
  const int r = ::fcntl(fd, F_GETFD);
  return r < 0 ? -errno : r;
}

int interface::dup_cloexec(int fd, int min_fd) noexcept {
  const int r = ::fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
  return r < 0 ? -errno : r;
}

int interface::open_pty(int fds[2], unsigned short cols, unsigned short rows) noexcept {
  const int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -errno;
  int unlock = 0;
  int index = -1;
  int slave = -1;
  int err = 0;
  const ::winsize size{rows, cols, 0, 0};
  if (::ioctl(master, TIOCSPTLCK, &unlock) < 0 || ::ioctl(master, TIOCGPTN, &index) < 0 ||
      ::ioctl(master, TIOCSWINSZ, &size) < 0) {
    err = errno;
  }
  if (err == 0) {
    slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);  // Linux 4.13
    if (slave < 0 && (errno == EINVAL || errno == ENOTTY)) {
      char path[32];
      (void)std::snprintf(path, sizeof path, "/dev/pts/%d", index);
      slave = ::open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (slave < 0) err = errno;
  }
  ::termios mode{};
  if (err == 0 && ::tcgetattr(slave, &mode) == 0) {
    mode.c_iflag |= IUTF8;
    if (::tcsetattr(slave, TCSANOW, &mode) < 0) err = errno;
  } else if (err == 0) {
    err = errno;
  }
  if (err != 0) {
    if (slave >= 0) (void)::close(slave);
    (void)::close(master);
    return -err;
  }
  fds[0] = master;
  fds[1] = slave;
  return index;
}

int interface::landlock_abi() noexcept {
  constexpr unsigned kVersion = 1U << 0;  // LANDLOCK_CREATE_RULESET_VERSION
  const long r = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kVersion);
  if (r >= 0) return static_cast<int>(r);
  return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;
}

int interface::close(int fd) noexcept {
  return ::close(fd) < 0 ? -errno : 0;
}

interface& os() noexcept {
  static interface kernel;
  return kernel;
}

}  // namespace uvreap::sys
