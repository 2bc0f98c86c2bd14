// SPDX-License-Identifier: MIT
// uvreap example: run three commands on a libuv loop and print how each ended.
#include <uvreap/uvreap.hpp>

#include <iostream>

int main() {
  uv_loop_t* loop = uv_default_loop();
  uvreap::reaper reaper{loop};  // policy `own`: reaps only what it is given

  for (const char* script : {"exit 3", "kill -TERM $$", "true"}) {
    uvreap::spawn_options cmd;
    cmd.argv = {"/bin/sh", "-c", script};
    reaper.spawn(cmd, [](const uvreap::exit_status& e) {
      std::cout << e << '\n';  // "pid 4242 exited with code 3", "... killed by signal 15"
    });
  }
  uv_run(loop, UV_RUN_DEFAULT);  // returns once every child has been reaped
  reaper.close();
  uv_run(loop, UV_RUN_DEFAULT);  // lets libuv release the reaper's handles
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
