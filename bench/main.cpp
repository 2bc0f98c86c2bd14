// SPDX-License-Identifier: MIT
// uvreap-bench: reap latency, throughput and CPU per child under fork storms, uvreap's
// policies side by side with libuv's uv_spawn and a blocking-wait floor, in one run.
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernel_costs.hpp"
#include "tree_kill.hpp"
#include "report.hpp"
#include "runner.hpp"

using namespace uvreap::bench;

namespace {

const char kUsage[] =
    "usage: uvreap-bench [options]\n"
    "  --pattern burst|stream   burst: N children wait on a barrier, all released at once\n"
    "                           (default); stream: continuous creation, --concurrency alive\n"
    "  --children N             measured children per run (default 2000)\n"
    "  --background K[,K...]    long-lived children alive and registered all run (default 0);\n"
    "                           a list runs each value in turn, interleaved, rows named K=..\n"
    "  --concurrency C          stream: most measured children alive at once (default 64)\n"
    "  --open-fds N[,N...]      extra fds the parent holds all run, as a server's sockets\n"
    "                           (default 0); a list as for --background, rows named fds=..\n"
    "  --strategies LIST        comma-separated: own,all,pidfd,uv_spawn,floor (default: all)\n"
    "  --repeat R               repetitions, interleaved A B C A B C ... (default 3)\n"
    "  --start sync|async|pool|thread[,...]\n"
    "                           stream, own/all/pidfd, --spawn exec: who starts each child —\n"
    "                           the loop thread with reaper::spawn (sync, default) or\n"
    "                           reaper::spawn_async (async), the loop handing reaper::spawn\n"
    "                           to libuv's threadpool (pool), or a generator thread (thread);\n"
    "                           a list runs each in turn, interleaved, rows named start=..\n"
    "  --start-threads N        --start async: the reaper's starter threads (default: one\n"
    "                           per core, at least 2)\n"
    "  --spawn fork|exec        children are forks, or exec'd uvreap-bench-child (default\n"
    "                           exec; uv_spawn can only exec)\n"
    "  --json FILE              every raw figure as JSON ('-': only JSON on stdout, the\n"
    "                           table on stderr)\n"
    "  --plot FILE.png          latency CDF per strategy (needs gnuplot)\n"
    "  --deadline S             seconds one run may take before it fails (default 120)\n"
    "  --child-exe PATH         the exec'd helper (default: next to this program)\n"
    "  --tree none|cgroup|process_group[,...]\n"
    "                           --spawn exec, own/all/pidfd: what holds each child's tree\n"
    "                           (default none); a list runs each in turn, interleaved, rows\n"
    "                           named tree=..\n"
    "  --sandbox none|landlock|full[,...]\n"
    "                           --spawn exec, own/all/pidfd: each child confined (landlock:\n"
    "                           files; full: also no network, scopes, seccomp); rows named\n"
    "                           sandbox=..\n"
    "  --kill-tree N            instead of storms: a child with tree::cgroup (then with\n"
    "                           process_group) forks N sleeping processes; the time from\n"
    "                           reaper::kill_tree(SIGKILL) to its exit callback, --repeat times\n"
    "  --kernel-costs           instead of storms: the kernel's CPU for each reaping step\n"
    "                           alone, over --children exited children, and one P_ALL\n"
    "                           wait with 0, K/10 and K live children (K = --background,\n"
    "                           10000 when not given), --repeat times\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "uvreap-bench: " << msg << "\n" << kUsage;
  std::exit(2);
}

std::uint32_t parse_count(const std::string& flag, const char* v, std::uint32_t min,
                          std::uint32_t max) {
  char* end = nullptr;
  errno = 0;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || v[0] < '0' || v[0] > '9' || n < min || n > max) {
    usage_error(flag + " takes a whole number from " + std::to_string(min) + " to " +
                std::to_string(max) + ", not '" + v + "'");
  }
  return static_cast<std::uint32_t>(n);
}

// A comma-separated list of counts.
std::vector<std::uint32_t> parse_counts(const std::string& flag, const char* v, std::uint32_t min,
                                        std::uint32_t max) {
  std::vector<std::uint32_t> out;
  if (*v == '\0') out.push_back(parse_count(flag, v, min, max));  // refused, as any non-number
  std::stringstream ss(v);
  for (std::string one; std::getline(ss, one, ',');)
    out.push_back(parse_count(flag, one.c_str(), min, max));
  if (out.empty()) usage_error(flag + " is empty");
  return out;
}

// Next to this program (the build tree), else where the install put it (libexec).
std::string default_child_exe() {
  const std::string installed = UVREAP_BENCH_CHILD_DIR "/uvreap-bench-child";
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return installed;
  std::string self(buf, static_cast<std::size_t>(n));
  std::string beside = self.substr(0, self.rfind('/') + 1) + "uvreap-bench-child";
  return ::access(beside.c_str(), X_OK) == 0 ? beside : installed;
}

config parse(int argc, char** argv) {
  config cfg;
  cfg.child_exe = default_child_exe();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (a == "--kernel-costs") {
      cfg.kernel_costs = true;
      continue;
    }
    static const char* const kWithValue[] = {
        "--pattern", "--children", "--background", "--concurrency", "--strategies", "--repeat",
        "--spawn",   "--json",     "--plot",       "--deadline",    "--child-exe",  "--open-fds",
        "--start",   "--start-threads", "--tree", "--kill-tree", "--sandbox"};
    if (std::find(std::begin(kWithValue), std::end(kWithValue), a) == std::end(kWithValue)) {
      usage_error("unknown option " + a);
    }
    if (i + 1 >= argc) usage_error("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--pattern") {
      if (std::strcmp(v, "burst") == 0) {
        cfg.pat = pattern::burst;
      } else if (std::strcmp(v, "stream") == 0) {
        cfg.pat = pattern::stream;
      } else {
        usage_error("--pattern is burst or stream");
      }
    } else if (a == "--children") {
      cfg.children = parse_count(a, v, 1, 1'000'000);
    } else if (a == "--background") {
      cfg.background_list = parse_counts(a, v, 0, 1'000'000);
    } else if (a == "--open-fds") {
      cfg.open_fds_list = parse_counts(a, v, 0, 1'000'000);
    } else if (a == "--concurrency") {
      cfg.concurrency = parse_count(a, v, 1, 100'000);
    } else if (a == "--repeat") {
      cfg.repeat = static_cast<int>(parse_count(a, v, 1, 1000));
    } else if (a == "--deadline") {
      cfg.deadline_s = parse_count(a, v, 1, 86400);
    } else if (a == "--strategies") {
      cfg.strategies.clear();
      std::stringstream ss(v);
      for (std::string s; std::getline(ss, s, ',');) {
        if (!known_strategy(s)) usage_error("unknown strategy '" + s + "'");
        cfg.strategies.push_back(s);
      }
      if (cfg.strategies.empty()) usage_error("--strategies is empty");
    } else if (a == "--spawn") {
      if (std::strcmp(v, "fork") == 0) {
        cfg.spawn = creation::fork;
      } else if (std::strcmp(v, "exec") == 0) {
        cfg.spawn = creation::exec;
      } else {
        usage_error("--spawn is fork or exec");
      }
    } else if (a == "--start-threads") {
      cfg.start_threads = parse_count(a, v, 1, 256);
    } else if (a == "--start") {
      cfg.start_list.clear();
      std::stringstream ss(v);
      for (std::string m; std::getline(ss, m, ',');) {
        if (m == "sync") {
          cfg.start_list.push_back(start_mode::sync);
        } else if (m == "async") {
          cfg.start_list.push_back(start_mode::async);
        } else if (m == "pool") {
          cfg.start_list.push_back(start_mode::pool);
        } else if (m == "thread") {
          cfg.start_list.push_back(start_mode::thread);
        } else {
          usage_error("--start takes sync, async, pool or thread (or a list of them)");
        }
      }
      if (cfg.start_list.empty()) usage_error("--start is empty");
      cfg.start = cfg.start_list.front();
    } else if (a == "--tree") {
      cfg.tree_list.clear();
      std::stringstream ss(v);
      for (std::string one; std::getline(ss, one, ',');) {
        if (one == "none") {
          cfg.tree_list.push_back(uvreap::tree::none);
        } else if (one == "cgroup") {
          cfg.tree_list.push_back(uvreap::tree::cgroup);
        } else if (one == "process_group") {
          cfg.tree_list.push_back(uvreap::tree::process_group);
        } else {
          usage_error("--tree takes none, cgroup or process_group (or a list of them)");
        }
      }
      if (cfg.tree_list.empty()) usage_error("--tree is empty");
    } else if (a == "--sandbox") {
      cfg.sandbox_list.clear();
      std::stringstream ss(v);
      for (std::string one; std::getline(ss, one, ',');) {
        if (one != "none" && one != "landlock" && one != "full") {
          usage_error("--sandbox takes none, landlock or full (or a list of them)");
        }
        cfg.sandbox_list.push_back(one);
      }
      if (cfg.sandbox_list.empty()) usage_error("--sandbox is empty");
      cfg.area_as_fd = true;
    } else if (a == "--kill-tree") {
      cfg.kill_tree = parse_count(a, v, 1, 100000);
    } else if (a == "--json") {
      cfg.json_path = v;
    } else if (a == "--plot") {
      cfg.plot_path = v;
    } else {
      cfg.child_exe = v;
    }
  }
  // Output files are checked before the storm, not after minutes of it: each is created
  // (or truncated) now, and written at the end.
  if (!cfg.json_path.empty() && cfg.json_path != "-" && !std::ofstream(cfg.json_path)) {
    usage_error("cannot write " + cfg.json_path + ": " + std::strerror(errno));
  }
  if (!cfg.plot_path.empty()) {  // gnuplot writes it: its folder must be writable
    const auto slash = cfg.plot_path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : cfg.plot_path.substr(0, slash + 1);
    if (::access(dir.c_str(), W_OK) != 0) {
      usage_error("cannot write " + cfg.plot_path + ": " + std::strerror(errno));
    }
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
      usage_error("--plot needs gnuplot (Debian's gnuplot-nox), which is not on PATH");
    }
  }
  if (cfg.spawn == creation::exec && ::access(cfg.child_exe.c_str(), X_OK) != 0) {
    usage_error("cannot execute the child helper " + cfg.child_exe);
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg = parse(argc, argv);
  cfg.background = *std::max_element(cfg.background_list.begin(), cfg.background_list.end());
  cfg.open_fds = *std::max_element(cfg.open_fds_list.begin(), cfg.open_fds_list.end());
  if (cfg.kill_tree > 0) return run_kill_tree(std::cout, cfg.kill_tree, cfg.repeat);
  if (cfg.kernel_costs) {
    return run_kernel_costs(std::cout, cfg.children, cfg.background == 0 ? 10000 : cfg.background,
                            cfg.repeat);
  }
  const bool tty = ::isatty(2) != 0;
  // --open-fds: what a server holding that many sockets looks like to spawn.
  std::vector<int> held;
  if (cfg.open_fds > 0) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const rlim_t need = cfg.open_fds + cfg.background + 4096;
    if (rl.rlim_cur < need && rl.rlim_max >= need) {
      rl.rlim_cur = need;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  auto hold = [&](std::uint32_t n) {
    while (held.size() > n) {
      ::close(held.back());
      held.pop_back();
    }
    while (held.size() < n) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        std::fprintf(stderr, "uvreap-bench: --open-fds: open: %s\n", std::strerror(errno));
        std::exit(1);
      }
      held.push_back(fd);
    }
  };
  shared_area area(cfg.children + cfg.background);
  std::vector<run_result> results;
  auto starts_of = [&](const std::string& s) {
    // Only the reaper's policies have a choice of who starts the stream's children.
    const bool choice = s == "own" || s == "all" || s == "pidfd";
    return choice ? cfg.start_list : std::vector<start_mode>{cfg.start_list.front()};
  };
  auto trees_of = [&](const std::string& s) {
    const bool choice = (s == "own" || s == "all" || s == "pidfd") && cfg.spawn == creation::exec;
    return choice ? cfg.tree_list : std::vector<uvreap::tree>{uvreap::tree::none};
  };
  auto sandboxes_of = [&](const std::string& s) {
    const bool choice = (s == "own" || s == "all" || s == "pidfd") && cfg.spawn == creation::exec;
    return choice ? cfg.sandbox_list : std::vector<std::string>{"none"};
  };
  std::size_t per_round = 0;
  for (const auto& s : cfg.strategies)
    per_round += starts_of(s).size() * trees_of(s).size() * sandboxes_of(s).size();
  const int total = cfg.repeat * static_cast<int>(per_round * cfg.background_list.size() *
                                                  cfg.open_fds_list.size());
  const bool name_k = cfg.background_list.size() > 1;
  const bool name_fds = cfg.open_fds_list.size() > 1;
  const bool name_start = cfg.start_list.size() > 1;
  const bool name_tree = cfg.tree_list.size() > 1 || cfg.tree_list.front() != uvreap::tree::none;
  const bool name_sandbox = cfg.sandbox_list.size() > 1 || cfg.sandbox_list.front() != "none";
  int done = 0;
  // Interleaved (A B C A B C ...): drift of a shared machine hits every strategy alike.
  for (int rep = 0; rep < cfg.repeat; ++rep) {
    for (const std::uint32_t k : cfg.background_list) {
      for (const std::uint32_t fds : cfg.open_fds_list) {
        config one = cfg;
        one.background = k;
        one.open_fds = fds;
        hold(fds);
        for (const auto& s : cfg.strategies) {
          for (const uvreap::tree tr : trees_of(s)) {
          for (const std::string& box : sandboxes_of(s)) {
          for (const start_mode m : starts_of(s)) {
            if (tty) {
              std::fprintf(stderr, "\r[%d/%d] %s, repeat %d ...        ", done + 1, total,
                           s.c_str(), rep + 1);
            }
            one.start = m;
            one.tree = tr;
            one.sandbox = box;
            one.sandbox_opts = bench_sandbox(box, cfg);
            try {
              run_result r = run_once(one, s, rep, area);
              r.background = k;
              r.open_fds = fds;
              if (name_start && starts_of(s).size() > 1) r.strategy += std::string(" start=") + to_string(m);
              if (name_tree && (s == "own" || s == "all" || s == "pidfd") &&
                  cfg.spawn == creation::exec) {
                r.strategy += std::string(" tree=") + std::string(uvreap::to_string(tr));
              }
              if (name_sandbox && sandboxes_of(s).size() == cfg.sandbox_list.size() &&
                  (s == "own" || s == "all" || s == "pidfd")) {
                r.strategy += " sandbox=" + box;
              }
              if (name_k) r.strategy += " K=" + std::to_string(k);
              if (name_fds) r.strategy += " fds=" + std::to_string(fds);
              results.push_back(std::move(r));
            } catch (const std::exception& e) {
              if (tty) std::fprintf(stderr, "\n");
              std::cerr << "uvreap-bench: " << s << ": " << e.what() << "\n";
              return 1;
            }
            ++done;
          }
          }
          }
        }
      }
    }
  }
  if (tty) std::fprintf(stderr, "\r%60s\r", "");

  // With --json -, stdout carries only the JSON document.
  std::ostream& table = cfg.json_path == "-" ? std::cerr : std::cout;
  print_table(table, cfg, results);
  table.flush();
  int status = 0;
  if (!table) {
    std::cerr << "uvreap-bench: cannot write the table: " << std::strerror(errno) << "\n";
    status = 1;
  }

  if (!cfg.json_path.empty()) {
    const auto m = describe_machine();
    // A write error shows only once the buffer goes out: flush, then look.
    if (cfg.json_path == "-") {
      write_json(std::cout, cfg, m, results);
      std::cout.flush();
      if (!std::cout) {
        std::cerr << "uvreap-bench: cannot write the JSON to stdout: " << std::strerror(errno)
                  << "\n";
        status = 1;
      }
    } else {
      std::ofstream out(cfg.json_path);
      write_json(out, cfg, m, results);
      out.flush();
      if (!out) {
        std::cerr << "uvreap-bench: cannot write " << cfg.json_path << ": " << std::strerror(errno)
                  << "\n";
        status = 1;
      }
    }
  }
  if (!cfg.plot_path.empty()) {
    std::string msg;
    if (!write_plot(cfg.plot_path, cfg, results, msg)) status = 1;
    std::cerr << "uvreap-bench: " << msg << "\n";
  }

  int failures = 0;
  for (const auto& r : results) {
    if (r.note.rfind("skipped", 0) == 0) continue;
    if (r.lost != 0 || r.duplicated != 0 || r.wrong != 0 || !r.note.empty()) {
      table << "FAIL " << r.strategy << " repeat " << r.repeat << ": lost " << r.lost
            << ", duplicated " << r.duplicated << ", wrong status " << r.wrong
            << (r.note.empty() ? "" : ", " + r.note) << "\n";
      ++failures;
    }
  }
  return failures == 0 ? status : 1;
}
