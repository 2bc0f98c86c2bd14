// SPDX-License-Identifier: MIT
// uvreap-bench --kill-tree: from reaper::kill_tree(SIGKILL) to the exit callback, for a
// tree of N processes, in a cgroup and in a process group.
#include "tree_kill.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "uvreap/reaper.hpp"

namespace uvreap::bench {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct one_kill {
  double us = 0;           // kill_tree -> exit callback
  int descendants = -1;    // what the record says was left (cgroup)
  std::string error;
};

// Blocks until `fd` gives a line, or fails after a generous deadline.
bool read_ready(int fd, std::string& why) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  char c = 0;
  while (std::chrono::steady_clock::now() < until) {
    const ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      why = "the tree's leader ended before it was ready";
      return false;
    }
    if (c == '\n') return true;
  }
  why = "the tree was not ready within 120 s";
  return false;
}

one_kill kill_once(uvreap::tree t, std::uint32_t n) {
  one_kill out;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    out.error = "uv_loop_init";
    return out;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    out.error = std::string("pipe2: ") + std::strerror(errno);
    (void)uv_loop_close(&loop);
    return out;
  }
  {
    reaper r(&loop);
    spawn_options o;
    o.argv = {"/bin/sh", "-c",
              "i=0; while [ $i -lt " + std::to_string(n) +
                  " ]; do sleep 1000 & i=$((i+1)); done; echo ready; exec sleep 1000"};
    o.stdio_map = {stdio::null(), stdio::from_fd(fds[1]), stdio::inherit()};
    o.tree = t;
    bool done = false;
    std::chrono::steady_clock::time_point t0, t1;
    std::error_code ec;
    const pid_t pid = r.spawn(
        o,
        [&](const exit_status& s) {
          t1 = std::chrono::steady_clock::now();
          out.descendants = s.tree_info().descendants_at_exit;
          done = true;
        },
        ec);
    ::close(fds[1]);
    if (pid < 0) {
      out.error = "spawn: " + ec.message();
    } else if (std::string why; !read_ready(fds[0], why)) {
      out.error = why;
    } else {
      t0 = std::chrono::steady_clock::now();
      r.kill_tree(pid, SIGKILL, ec);
      if (ec) out.error = "kill_tree: " + ec.message();
      while (!done && out.error.empty())
        uv_run(&loop, UV_RUN_ONCE);
      out.us = std::chrono::duration<double, std::micro>(t1 - t0).count();
    }
    r.close(close_options::kill_children(std::chrono::milliseconds{0}));
    while (uv_run(&loop, UV_RUN_DEFAULT) != 0) {
    }
  }
  ::close(fds[0]);
  (void)uv_loop_close(&loop);
  return out;
}

}  // namespace

int run_kill_tree(std::ostream& os, std::uint32_t n, int repeat) {
  int status = 0;
  char line[256];
  std::snprintf(line, sizeof line, "kill_tree(SIGKILL) -> exit callback, a tree of %u sleeping processes, %d repeats\n",
                n, repeat);
  os << line;
  os << "tree           median ms   min ms   max ms   left at exit (median)\n";
  for (const uvreap::tree t : {uvreap::tree::cgroup, uvreap::tree::process_group}) {
    std::vector<double> ms;
    std::vector<double> left;
    std::string error;
    for (int i = 0; i < repeat && error.empty(); ++i) {
      const one_kill k = kill_once(t, n);
      if (!k.error.empty()) {
        error = k.error;
        break;
      }
      ms.push_back(k.us / 1000.0);
      left.push_back(k.descendants);
    }
    const std::string name(uvreap::to_string(t));
    if (!error.empty()) {
      os << name << ": skipped: " << error << "\n";
      continue;
    }
    std::snprintf(line, sizeof line, "%-14s %9.2f %8.2f %8.2f   %s\n", name.c_str(), median(ms),
                  *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()),
                  t == uvreap::tree::cgroup ? std::to_string(static_cast<int>(median(left))).c_str()
                                            : "unknown (a group is not counted)");
    os << line;
  }
  return status;
}

}  // namespace uvreap::bench
