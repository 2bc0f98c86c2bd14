// SPDX-License-Identifier: MIT
// uvreap example: a child on a terminal of its own — sized before it starts, resized
// while it runs, sent a keystroke, and its output read to the end (UV_EIO: the end of a
// terminal's stream, after the last byte).
#include <uvreap/uvreap.hpp>

#include <iostream>
#include <string>

int main() {
  uv_loop_t* loop = uv_default_loop();
  uvreap::reaper reaper{loop};
  uv_pipe_t master;
  uv_pipe_init(loop, &master, 0);
  uvreap::spawn_options cmd;
  cmd.argv = {"/bin/sh", "-c", "stty size; read line; stty size"};
  cmd.terminal = uvreap::terminal_options{100, 30, &master};
  int exits = 0;
  const pid_t pid = reaper.spawn(cmd, [&](const uvreap::exit_status& s) {
    ++exits;
    std::cout << s << '\n';
  });

  std::string out;  // the terminal's output, read until its end
  master.data = &out;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&master),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char chunk[4096];
        *buf = uv_buf_init(chunk, sizeof chunk);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        if (n > 0) static_cast<std::string*>(s->data)->append(buf->base, n);
        if (n == UV_EIO || n == UV_EOF) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
      });
  reaper.resize(pid, 120, 40);  // the child gets SIGWINCH
  uv_write_t keys;
  uv_buf_t enter = uv_buf_init(const_cast<char*>("\r"), 1);
  uv_write(&keys, reinterpret_cast<uv_stream_t*>(&master), &enter, 1, nullptr);

  uv_run(loop, UV_RUN_DEFAULT);
  std::cout << out;  // "30 100" or, if the resize came first, "40 120"; then "40 120"
  reaper.close();
  uv_run(loop, UV_RUN_DEFAULT);
  const bool resized = out.size() >= 8 && out.compare(out.size() - 8, 8, "40 120\r\n") == 0;
  return exits == 1 && resized && uv_loop_close(loop) == 0 ? 0 : 1;
}
