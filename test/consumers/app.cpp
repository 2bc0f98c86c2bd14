// SPDX-License-Identifier: MIT
// A C++ program built against uvreap (shared by the CMake and meson consumers).
#include <uvreap/uvreap.hpp>

#include <iostream>

int main() {
  uv_loop_t* loop = uv_default_loop();
  int code = -1;
  {
    uvreap::reaper reaper{loop};
    uvreap::spawn_options cmd;
    cmd.argv = {"/bin/sh", "-c", "exit 42"};
    reaper.spawn(cmd, [&](const uvreap::exit_status& s) { code = s.exited() ? s.code() : -1; });
    uv_run(loop, UV_RUN_DEFAULT);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  std::cout << CONSUMER << " consumer (uvreap " << UVREAP_VERSION_STRING
            << "): child exited with " << code << '\n';
  return code == 42 ? 0 : 1;
}
