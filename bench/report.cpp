// SPDX-License-Identifier: MIT
// uvreap-bench: the table, the JSON and the plot.
#include "report.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <thread>
#include <uvreap/version.hpp>

namespace uvreap::bench {

const char* to_string(pattern p) {
  return p == pattern::burst ? "burst" : "stream";
}
const char* to_string(creation c) {
  return c == creation::fork ? "fork" : "exec";
}
const char* to_string(start_mode m) {
  switch (m) {
    case start_mode::sync:
      return "sync";
    case start_mode::async:
      return "async";
    case start_mode::pool:
      return "pool";
    case start_mode::thread:
      break;
  }
  return "thread";
}

machine_info describe_machine() {
  machine_info m;
  utsname u{};
  if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      m.cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  m.cores = std::thread::hardware_concurrency();
  m.libuv = uv_version_string();
  m.uvreap = UVREAP_VERSION_STRING;
#if defined(__clang__)
  m.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.compiler = "g++ " __VERSION__;
#endif
  return m;
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct column {
  const char* title;
  int width;
  int precision;        // of the median
  int range_precision;  // of the min-max line
  double (*get)(const run_result&);
};

const column kColumns[] = {
    {"p50 us", 17, 1, 0, [](const run_result& r) { return r.latency.p50; }},
    {"p90 us", 17, 1, 0, [](const run_result& r) { return r.latency.p90; }},
    {"p99 us", 17, 1, 0, [](const run_result& r) { return r.latency.p99; }},
    {"p99.9 us", 17, 1, 0, [](const run_result& r) { return r.latency.p999; }},
    {"max us", 17, 1, 0, [](const run_result& r) { return r.latency.max; }},
    {"exits/s", 13, 0, 0, [](const run_result& r) { return r.children_per_s; }},
    {"cpu us/exit", 13, 1, 0, [](const run_result& r) { return r.cpu_us_per_child; }},
    {"child cpu us", 13, 1, 0, [](const run_result& r) { return r.children_cpu_us_per_child; }},
    {"loop us p50", 12, 1, 0, [](const run_result& r) { return r.loop_spawn ? r.loop_spawn->p50 : NAN; }},
    {"loop us p99", 12, 1, 0, [](const run_result& r) { return r.loop_spawn ? r.loop_spawn->p99 : NAN; }},
    {"% ceiling", 10, 1, 0,
     [](const run_result& r) {
       return r.ceiling_per_s ? 100 * r.children_per_s / *r.ceiling_per_s : NAN;
     }},
    {"sc/exit", 16, 2, 2,
     [](const run_result& r) { return r.syscalls_per_exit ? *r.syscalls_per_exit : NAN; }},
    {"sweeps/exit", 12, 2, 2,
     [](const run_result& r) { return r.sweeps_per_exit ? *r.sweeps_per_exit : NAN; }},
};

std::string fmt(double v, int precision) {
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

void json_number(std::ostream& os, double v) {
  if (std::isnan(v) || std::isinf(v)) {
    os << "null";
  } else {
    os << std::setprecision(10) << v;
  }
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void json_percentiles(std::ostream& os, const percentiles& p) {
  os << "{\"p50\": ";
  json_number(os, p.p50);
  os << ", \"p90\": ";
  json_number(os, p.p90);
  os << ", \"p99\": ";
  json_number(os, p.p99);
  os << ", \"p999\": ";
  json_number(os, p.p999);
  os << ", \"max\": ";
  json_number(os, p.max);
  os << "}";
}

}  // namespace

void print_table(std::ostream& os, const config& cfg, const std::vector<run_result>& results) {
  auto list = [](const std::vector<std::uint32_t>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i)
      s += (i ? "," : "") + std::to_string(v[i]);
    return s;
  };
  os << "uvreap-bench: pattern=" << to_string(cfg.pat) << " children=" << cfg.children
     << " background=" << list(cfg.background_list);
  if (cfg.open_fds_list.size() > 1 || cfg.open_fds > 0) {
    os << " open_fds=" << list(cfg.open_fds_list);
  }
  if (cfg.pat == pattern::stream) {
    os << " concurrency=" << cfg.concurrency << " start=";
    for (std::size_t i = 0; i < cfg.start_list.size(); ++i)
      os << (i ? "," : "") << to_string(cfg.start_list[i]);
  }
  os << " spawn=" << to_string(cfg.spawn) << " repeat=" << cfg.repeat << "\n";
  os << "medians over repeats; second line: min-max. latency = child's exit stamp to its "
        "callback; cpu = parent user+sys\n";
  int name_w = 10;  // the strategy column: as wide as the longest name and a space
  for (const auto& r : results)
    name_w = std::max(name_w, static_cast<int>(r.strategy.size()) + 1);
  os << std::left << std::setw(name_w) << "strategy" << std::setw(15) << "children by";
  for (const auto& c : kColumns)
    os << std::right << std::setw(c.width) << c.title;
  os << std::right << std::setw(6) << "lost" << std::setw(5) << "dup"
     << "\n";

  std::vector<std::string> order;
  for (const auto& r : results) {
    if (std::find(order.begin(), order.end(), r.strategy) == order.end()) {
      order.push_back(r.strategy);
    }
  }
  for (const auto& name : order) {
    std::vector<const run_result*> runs;
    for (const auto& r : results) {
      if (r.strategy == name) runs.push_back(&r);
    }
    if (!runs.front()->note.empty() && runs.front()->note.rfind("skipped", 0) == 0) {
      os << std::left << std::setw(name_w) << name << runs.front()->note << "\n";
      continue;
    }
    std::uint64_t lost = 0, dup = 0;
    for (const auto* r : runs) {
      lost += r->lost + r->wrong;
      dup += r->duplicated;
    }
    os << std::left << std::setw(name_w) << name << std::setw(15) << runs.front()->generator;
    std::ostringstream range;
    range << std::left << std::setw(name_w + 15) << "";
    for (const auto& c : kColumns) {
      std::vector<double> v;
      for (const auto* r : runs)
        v.push_back(c.get(*r));
      // A cell wider than its column still keeps one space before it.
      os << ' ' << std::right << std::setw(c.width - 1) << fmt(median(v), c.precision);
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      const std::string span = runs.size() > 1 && !std::isnan(*lo)
                                   ? fmt(*lo, c.range_precision) + "-" + fmt(*hi, c.range_precision)
                                   : "";
      range << ' ' << std::right << std::setw(c.width - 1) << span;
    }
    os << std::right << std::setw(6) << lost << std::setw(5) << dup << "\n";
    if (runs.size() > 1) os << range.str() << "\n";
    if (runs.front()->wake) {
      std::vector<double> p50, p99;
      for (const auto* r : runs) {
        p50.push_back(r->wake->p50);
        p99.push_back(r->wake->p99);
      }
      os << std::left << std::setw(25) << "  floor raw wake-up"
         << "p50 " << fmt(median(p50), 1) << " us, p99 " << fmt(median(p99), 1)
         << " us (exit stamp to waitid returning, before the hand-off to the loop)\n";
    }
    for (const auto* r : runs) {
      if (!r->note.empty())
        os << "  " << name << " repeat " << r->repeat << ": " << r->note << "\n";
    }
  }
  os << "columns:\n"
        "  children by   who created the measured children: 'loop (before)' = the loop thread,\n"
        "                all before the clock started (burst); 'thread' = a generator thread\n"
        "                while exits are measured; 'loop' = uv_spawn on the loop, one per exit;\n"
        "                'loop: spawn', 'loop: async', 'loop: pool' = the loop thread, one per\n"
        "                exit, with reaper::spawn, spawn_async, or spawn on libuv's threadpool\n"
        "  p50..max us   reap latency: the child's exit stamp to its callback on the loop\n"
        "  exits/s       measured exits / time from the start of the measurement to the last\n"
        "                callback\n"
        "  cpu us/exit   the harness process's user+sys CPU during the measurement, per exit\n"
        "                (stream: creating the children included)\n"
        "  child cpu us  the reaped children's own user+sys CPU (RUSAGE_CHILDREN), per exit\n"
        "  loop us p50, p99  stream: the loop thread's time inside each start call\n"
        "                (reaper::spawn, spawn_async, uv_queue_work, uv_spawn); '-' when a\n"
        "                thread starts the children\n"
        "  % ceiling     stream: exits/s as a share of cores / (cpu us/exit + child cpu us),\n"
        "                what the machine could sustain doing nothing else\n"
        "  sc/exit       reaping syscalls per exit: wait4, waitid, epoll_* and closing pidfds\n"
        "                (uv_spawn: libuv's waitpid calls; floor: its blocking waitid calls)\n"
        "  sweeps/exit   times the reaper looked for exits (SIGCHLD or pidfd wake-ups,\n"
        "                continuations, polls), per exit; '-' where the harness cannot count\n"
        "  lost, dup     exits never delivered or wrong, and exits delivered twice (must be 0)\n";
}

void write_json(std::ostream& os, const config& cfg, const machine_info& m,
                const std::vector<run_result>& results) {
  os << "{\n  \"machine\": {\"kernel\": " << json_string(m.kernel)
     << ", \"cpu\": " << json_string(m.cpu) << ", \"cores\": " << m.cores
     << ", \"libuv\": " << json_string(m.libuv) << ", \"uvreap\": " << json_string(m.uvreap)
     << ", \"compiler\": " << json_string(m.compiler) << "},\n";
  os << "  \"config\": {\"pattern\": \"" << to_string(cfg.pat)
     << "\", \"children\": " << cfg.children << ", \"background\": " << cfg.background
     << ", \"concurrency\": " << cfg.concurrency << ", \"spawn\": \"" << to_string(cfg.spawn)
     << "\", \"start\": \"" << to_string(cfg.start_list.front()) << "\", \"repeat\": " << cfg.repeat << ", \"strategies\": [";
  for (std::size_t i = 0; i < cfg.strategies.size(); ++i) {
    os << (i ? ", " : "") << json_string(cfg.strategies[i]);
  }
  os << "]},\n  \"results\": [";
  bool first = true;
  for (const auto& r : results) {
    os << (first ? "\n" : ",\n") << "    {\"strategy\": " << json_string(r.strategy)
       << ", \"pattern\": \"" << to_string(cfg.pat) << "\", \"background\": " << r.background
       << ", \"open_fds\": " << r.open_fds << ", \"children\": " << cfg.children
       << ", \"repeat\": " << r.repeat << ", \"generator\": " << json_string(r.generator)
       << ", \"latency_us\": ";
    first = false;
    json_percentiles(os, r.latency);
    if (r.wake) {
      os << ", \"wake_latency_us\": ";
      json_percentiles(os, *r.wake);
    }
    os << ", \"children_per_s\": ";
    json_number(os, r.children_per_s);
    os << ", \"cpu_us_per_child\": ";
    json_number(os, r.cpu_us_per_child);
    os << ", \"children_cpu_us_per_child\": ";
    json_number(os, r.children_cpu_us_per_child);
    os << ", \"loop_spawn_us\": ";
    if (r.loop_spawn) {
      json_percentiles(os, *r.loop_spawn);
    } else {
      os << "null";
    }
    os << ", \"ceiling_per_s\": ";
    json_number(os, r.ceiling_per_s ? *r.ceiling_per_s : NAN);
    os << ", \"syscalls_per_exit\": ";
    json_number(os, r.syscalls_per_exit ? *r.syscalls_per_exit : NAN);
    os << ", \"sweeps_per_exit\": ";
    json_number(os, r.sweeps_per_exit ? *r.sweeps_per_exit : NAN);
    os << ", \"samples\": " << r.latency_us.size() << ", \"lost\": " << r.lost
       << ", \"duplicated\": " << r.duplicated << ", \"wrong\": " << r.wrong
       << ", \"note\": " << json_string(r.note) << "}";
  }
  os << "\n  ]\n}\n";
}

bool write_plot(const std::string& png, const config& cfg, const std::vector<run_result>& results,
                std::string& message) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    message = "gnuplot not found: install Debian's gnuplot-nox to get --plot " + png;
    return false;
  }
  char dir_tmpl[] = "/tmp/uvreap-bench-plot-XXXXXX";
  if (::mkdtemp(dir_tmpl) == nullptr) {
    message = "cannot create a temporary directory for the plot";
    return false;
  }
  const std::string dir = dir_tmpl;
  std::map<std::string, std::vector<double>> merged;
  for (const auto& r : results) {
    auto& v = merged[r.strategy];
    v.insert(v.end(), r.latency_us.begin(), r.latency_us.end());
  }
  std::ostringstream plot;
  plot << "set terminal pngcairo size 1000,600 noenhanced\nset output '" << png << "'\n"
       << "set title 'uvreap-bench: reap latency CDF (" << to_string(cfg.pat) << ", "
       << cfg.children << " children, " << cfg.background << " background, " << cfg.repeat
       << " repeats)'\nset xlabel 'latency, exit stamp to callback (us, log scale)'\n"
       << "set ylabel 'fraction of exits'\nset logscale x\nset grid\nset key bottom right\n"
       << "plot ";
  bool first = true;
  for (auto& [name, v] : merged) {
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    const std::string file = dir + "/" + name + ".dat";
    std::ofstream out(file);
    for (std::size_t i = 0; i < v.size(); ++i) {
      out << std::max(v[i], 0.01) << " " << static_cast<double>(i + 1) / v.size() << "\n";
    }
    plot << (first ? "" : ", ") << "'" << file << "' using 1:2 with lines lw 2 title '" << name
         << "'";
    first = false;
  }
  plot << "\n";
  const std::string script = dir + "/plot.gp";
  std::ofstream(script) << plot.str();
  const int rc = std::system(("gnuplot '" + script + "'").c_str());
  std::system(("rm -rf '" + dir + "'").c_str());
  struct stat st {};
  if (rc != 0 || ::stat(png.c_str(), &st) != 0 || (S_ISREG(st.st_mode) && st.st_size == 0)) {
    message = "gnuplot failed to write " + png + " (exit " + std::to_string(rc) + ")";
    return false;
  }
  message = "wrote " + png;
  return true;
}

}  // namespace uvreap::bench
