// SPDX-License-Identifier: MIT
// uvreap example: run a command that leaves a process behind, collect its output, and see
// its whole tree contained — the leftover is killed when the command exits, and the
// callback comes once nothing of it is left.
#include <uvreap/uvreap.hpp>

#include <iostream>

int main() {
  uv_loop_t* loop = uv_default_loop();
  uvreap::reaper reaper{loop};
  uvreap::spawn_options cmd;
  cmd.argv = {"/bin/sh", "-c", "(sleep 1000 &); tr a-z A-Z"};
  cmd.tree = uvreap::tree::automatic;  // a cgroup where one can be made
  cmd.time_limit = uvreap::deadline{std::chrono::seconds{10}};
  uvreap::run_options how;
  how.input = "hello, tree\n";
  int done = 0;
  reaper.run(cmd, how, [&](uvreap::run_result& r) {  // once the tree is gone
    ++done;
    std::cout << r.out << r.status << " in a " << r.status.tree_info().applied << '\n';
  });
  uv_run(loop, UV_RUN_DEFAULT);
  reaper.close();
  uv_run(loop, UV_RUN_DEFAULT);
  return done == 1 && uv_loop_close(loop) == 0 ? 0 : 1;
}
