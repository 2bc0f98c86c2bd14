// SPDX-License-Identifier: MIT
// uvreap example: start a child without the loop waiting for its exec (spawn_async), and
// a second one that cannot start, whose error arrives the same way.
#include <uvreap/uvreap.hpp>

#include <iostream>

int main() {
  uv_loop_t* loop = uv_default_loop();
  uvreap::reaper reaper{loop};
  int started = 0;
  int exited = 0;
  for (const char* program : {"/usr/bin/python3", "/nonexistent/python3"}) {
    uvreap::spawn_options cmd;
    cmd.argv = {program, "-c", "print(42)"};
    reaper.spawn_async(
        cmd,
        [&](pid_t pid, std::error_code ec) {  // on the loop thread
          ++started;
          if (ec) std::cerr << "not started: " << ec.message() << '\n';
          if (!ec) std::cout << "started pid " << pid << '\n';
        },
        [&](const uvreap::exit_status& e) {
          ++exited;
          std::cout << e << '\n';
        });
  }
  uv_run(loop, UV_RUN_DEFAULT);  // the outcomes, then the started child's exit
  reaper.close();
  uv_run(loop, UV_RUN_DEFAULT);
  return started == 2 && exited == 1 && uv_loop_close(loop) == 0 ? 0 : 1;
}
