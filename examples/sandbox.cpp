// SPDX-License-Identifier: MIT
// uvreap example: a command in a sandbox of its own — it reads the system's directories,
// writes only in one of its own, has no network and no ptrace — without root, namespaces
// or a wrapper program.
#include <uvreap/uvreap.hpp>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

int main() {
  char dir[] = "/tmp/uvreap-sandbox-example-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 1;
  uv_loop_t* loop = uv_default_loop();
  uvreap::reaper reaper{loop};
  uvreap::spawn_options cmd;
  cmd.argv = {"/bin/sh", "-c", std::string("echo kept > ") + dir + "/out && ! echo lost > /tmp/escaped"};
  uvreap::sandbox_options box;
  box.read = {"/usr", "/lib", "/etc"};  // the shell, its libraries, its configuration
  box.write = {dir};
  box.network = false;  // no TCP bind or connect
  box.seccomp = true;   // no ptrace, mount, bpf, ...
  box.best_effort = true;  // on an older kernel, what it can; sandbox_info() says what
  cmd.sandbox = box;
  int exits = 0;
  reaper.spawn(cmd, [&](const uvreap::exit_status& s) {
    ++exits;
    const uvreap::sandbox_report& r = s.sandbox_info();
    std::cout << s << "; Landlock ABI " << r.landlock_abi << ", files " << r.filesystem
              << ", network " << r.network << ", seccomp " << r.seccomp << '\n';
  });
  uv_run(loop, UV_RUN_DEFAULT);
  reaper.close();
  uv_run(loop, UV_RUN_DEFAULT);
  const std::string out = std::string(dir) + "/out";
  const bool kept = ::access(out.c_str(), F_OK) == 0;
  (void)::unlink(out.c_str());
  (void)::rmdir(dir);
  return exits == 1 && kept && uv_loop_close(loop) == 0 ? 0 : 1;
}
