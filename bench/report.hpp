// SPDX-License-Identifier: MIT
// uvreap-bench: the table, the JSON and the plot.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "runner.hpp"

namespace uvreap::bench {

struct machine_info {
  std::string kernel;
  std::string cpu;
  unsigned cores = 0;
  std::string libuv;
  std::string uvreap;
  std::string compiler;
};
machine_info describe_machine();

/// Medians over repeats per strategy, with min–max; `results` may interleave strategies.
void print_table(std::ostream& os, const config& cfg, const std::vector<run_result>& results);

/// Every raw figure, one entry per strategy per repetition.
void write_json(std::ostream& os, const config& cfg, const machine_info& m,
                const std::vector<run_result>& results);

/// A latency CDF per strategy through gnuplot; false (and a message) when it cannot.
bool write_plot(const std::string& png, const config& cfg, const std::vector<run_result>& results,
                std::string& message);

const char* to_string(pattern p);
const char* to_string(creation c);
const char* to_string(start_mode m);

}  // namespace uvreap::bench
