// SPDX-License-Identifier: MIT
// uvreap-bench --kernel-costs: what the kernel charges the parent for each step of
// reaping, measured one step at a time with no event loop and no scheduling in between.
//
// Every figure is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID) around a loop of one
// kind of call over children that have all exited already (each was waited for with
// WNOWAIT first), so the child's own exit is not in it. The storms in the main harness
// pay these steps plus the loop's own work; this says which part is the kernel's floor.
#include "kernel_costs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <stdexcept>
#include <string>
#include <vector>

namespace uvreap::bench {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) fail("clock_gettime", errno);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Children that block until their gate's write end is closed, then _exit(0).
class gated_children {
 public:
  gated_children() {
    if (::pipe2(gate_, O_CLOEXEC) != 0) fail("pipe2", errno);
  }
  gated_children(const gated_children&) = delete;
  gated_children& operator=(const gated_children&) = delete;
  ~gated_children() {
    release();
    if (gate_[0] >= 0) ::close(gate_[0]);
    for (pid_t p : pids_) {
      while (::waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }

  void add(std::size_t n) {
    pids_.reserve(pids_.size() + n);
    for (std::size_t i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      if (pid < 0) fail("fork", errno);
      if (pid == 0) {
        // Only the parent may hold a write end of any gate, or EOF never comes.
        if (::dup2(gate_[0], 0) < 0) ::_exit(1);
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::close(gate_[1]);  // in case close_range is missing (Linux < 5.9)
        char b;
        while (::read(0, &b, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);
      }
      pids_.push_back(pid);
    }
  }

  // Lets them all exit and returns once each is a zombie (waited for with WNOWAIT).
  void release_and_wait_zombies() {
    release();
    for (pid_t p : pids_) {
      siginfo_t si{};
      int r;
      while ((r = ::waitid(P_PID, static_cast<id_t>(p), &si, WEXITED | WNOWAIT)) < 0 &&
             errno == EINTR) {
      }
      if (r < 0) fail("waitid(WNOWAIT)", errno);
    }
  }

  // Reaps them all; returns thread CPU ns spent in the wait4 calls.
  std::uint64_t reap() {
    const std::uint64_t t0 = thread_cpu_ns();
    for (pid_t p : pids_) {
      pid_t r;
      while ((r = ::wait4(p, nullptr, 0, nullptr)) < 0 && errno == EINTR) {
      }
      if (r != p) fail("wait4", errno);
    }
    const std::uint64_t t1 = thread_cpu_ns();
    pids_.clear();
    return t1 - t0;
  }

  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  void release() {
    if (gate_[1] >= 0) ::close(gate_[1]);
    gate_[1] = -1;
  }

  int gate_[2] = {-1, -1};
  std::vector<pid_t> pids_;
};

int pidfd_open(pid_t pid) {
  const long r = ::syscall(SYS_pidfd_open, pid, 0);
  if (r < 0) fail("pidfd_open", errno);
  return static_cast<int>(r);
}

struct figures {
  double reap_us = 0;           // wait4(pid) of an exited child, no pidfd
  double reap_pidfd_us = 0;     // the same with its pidfd open and in an epoll set
  double close_plain_us = 0;    // close(pidfd) after the reap
  double close_epoll_us = 0;    // close(pidfd) after the reap, pidfd in an epoll set
  double epoll_wait_us = 0;     // epoll_wait, per ready pidfd returned
  std::vector<double> peek_us;  // one waitid(P_ALL, WNOWAIT) per K in the walk list
};

// Per exit: reap with no pidfd.
double measure_reap(std::uint32_t n) {
  gated_children c;
  c.add(n);
  c.release_and_wait_zombies();
  return static_cast<double>(c.reap()) / 1000.0 / n;
}

// Per exit: pidfd in no epoll set, closed after the reap.
double measure_close_plain(std::uint32_t n) {
  gated_children c;
  c.add(n);
  std::vector<int> fds;
  for (pid_t p : c.pids())
    fds.push_back(pidfd_open(p));
  c.release_and_wait_zombies();
  c.reap();
  const std::uint64_t t0 = thread_cpu_ns();
  for (int fd : fds)
    ::close(fd);
  return static_cast<double>(thread_cpu_ns() - t0) / 1000.0 / n;
}

// Per exit: what the pidfd policy does — epoll_wait for the ready pidfds, reap each by
// pid, close each pidfd (which takes it out of the epoll set).
void measure_pidfd(std::uint32_t n, figures& f) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fail("epoll_create1", errno);
  gated_children c;
  c.add(n);
  std::vector<int> fds;
  for (pid_t p : c.pids()) {
    const int fd = pidfd_open(p);
    fds.push_back(fd);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fd;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl", errno);
  }
  c.release_and_wait_zombies();
  std::vector<epoll_event> events(256);
  std::uint32_t ready = 0;
  const std::uint64_t t0 = thread_cpu_ns();
  while (ready < n) {
    const int r = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("epoll_wait", errno);
    if (r == 0) fail("epoll_wait: fewer ready pidfds than exited children", EIO);
    ready += static_cast<std::uint32_t>(r);
  }
  const std::uint64_t t1 = thread_cpu_ns();
  const std::uint64_t reap_ns = c.reap();
  const std::uint64_t t2 = thread_cpu_ns();
  for (int fd : fds)
    ::close(fd);
  const std::uint64_t t3 = thread_cpu_ns();
  ::close(ep);
  f.epoll_wait_us = static_cast<double>(t1 - t0) / 1000.0 / n;
  f.reap_pidfd_us = static_cast<double>(reap_ns) / 1000.0 / n;
  f.close_epoll_us = static_cast<double>(t3 - t2) / 1000.0 / n;
}

// One P_ALL peek, as the own policy makes per exit: K live children, older than the one
// zombie it finds.
double measure_peek(std::size_t k) {
  constexpr int kCalls = 500;
  gated_children background;
  background.add(k);
  gated_children one;
  one.add(1);
  one.release_and_wait_zombies();
  const std::uint64_t t0 = thread_cpu_ns();
  for (int i = 0; i < kCalls; ++i) {
    siginfo_t si{};
    if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR)
      fail("waitid(P_ALL)", errno);
    if (si.si_pid != one.pids().front()) fail("waitid(P_ALL) found another child", EIO);
  }
  const std::uint64_t t1 = thread_cpu_ns();
  return static_cast<double>(t1 - t0) / 1000.0 / kCalls;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int run_kernel_costs(std::ostream& os, std::uint32_t n, std::uint32_t k, int repeat) {
  const std::vector<std::size_t> ks{0, k / 10, k};
  // SIGCHLD is SIG_DFL here (ignored, but not auto-reaping): the waits below are the only
  // reapers.
  std::vector<figures> runs;
  try {
    for (int r = 0; r < repeat; ++r) {
      figures f;
      f.reap_us = measure_reap(n);
      f.close_plain_us = measure_close_plain(n);
      measure_pidfd(n, f);
      for (std::size_t live : ks)
        f.peek_us.push_back(measure_peek(live));
      runs.push_back(f);
    }
  } catch (const std::exception& e) {
    os << "uvreap-bench --kernel-costs: " << e.what() << "\n";
    return 1;
  }
  auto med = [&](auto get) {
    std::vector<double> v;
    for (const auto& f : runs)
      v.push_back(get(f));
    return median(v);
  };
  auto line = [&](const std::string& what, double us) {
    os << std::left << std::setw(58) << what << std::right << std::fixed << std::setprecision(2)
       << std::setw(9) << us << " us\n";
  };
  os << "uvreap-bench --kernel-costs: " << n << " exited children per step, medians of " << repeat
     << " repetitions of this thread's CPU time\n";
  line("wait4(pid) of an exited child, no pidfd", med([](const figures& f) { return f.reap_us; }));
  line("wait4(pid) of an exited child, pidfd in an epoll set",
       med([](const figures& f) { return f.reap_pidfd_us; }));
  line("epoll_wait, per ready pidfd it returns",
       med([](const figures& f) { return f.epoll_wait_us; }));
  line("close(pidfd) after the reap, pidfd in no epoll set",
       med([](const figures& f) { return f.close_plain_us; }));
  line("close(pidfd) after the reap, pidfd in an epoll set",
       med([](const figures& f) { return f.close_epoll_us; }));
  line("  so the pidfd policy's steps per exit add up to",
       med([](const figures& f) { return f.epoll_wait_us + f.reap_pidfd_us + f.close_epoll_us; }));
  for (std::size_t i = 0; i < ks.size(); ++i) {
    line("waitid(P_ALL, WNOWAIT) with K = " + std::to_string(ks[i]) + " older live children",
         med([&](const figures& f) { return f.peek_us[i]; }));
  }
  const double per_child_ns =
      k == 0 ? 0
             : med([&](const figures& f) { return (f.peek_us[2] - f.peek_us[0]) / k; }) * 1000.0;
  os << std::left << std::setw(58) << "  each live child adds to every P_ALL wait" << std::right
     << std::fixed << std::setprecision(1) << std::setw(9) << per_child_ns << " ns\n";
  return 0;
}

}  // namespace uvreap::bench
