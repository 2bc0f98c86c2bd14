// SPDX-License-Identifier: MIT
// uvreap-init: a minimal container init on libuv — runs one command, forwards signals to
// it, reaps every orphan, and exits with the command's status.
//
//   uvreap-init [-g] [-v] -- command [args...]
//
//   -g  forward signals to the command's process group (it is started in a new group)
//   -v  report each reaped orphan on stderr
//
// Exit status: the command's exit code, or 128 + the signal that killed it; 127 when it
// could not be started (126 when it is not executable), 2 for a usage error.
#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "uvreap/uvreap.hpp"

namespace {

constexpr std::array kForwarded{SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

struct init_state {
  uvreap::reaper* reaper = nullptr;
  pid_t command = -1;
  bool group = false;
  bool verbose = false;
  std::optional<uvreap::exit_status> status;
  std::array<uv_signal_t, kForwarded.size()> signals{};
};

void forward(uv_signal_t* h, int signum) {
  auto* st = static_cast<init_state*>(h->data);
  if (st->status) return;  // the command is gone; nothing to forward to
  if (st->group) {
    // The command leads its group and is not reaped yet, so the group id is still its.
    if (::kill(-st->command, signum) != 0 && errno != ESRCH) {
      std::fprintf(stderr, "uvreap-init: kill(-%d, %d): %s\n", st->command, signum,
                   std::strerror(errno));
    }
    return;
  }
  std::error_code ec;
  st->reaper->kill(st->command, signum, ec);
  if (ec && ec != std::errc::no_such_process) {
    std::fprintf(stderr, "uvreap-init: kill(%d, %d): %s\n", st->command, signum,
                 ec.message().c_str());
  }
}

constexpr char kUsage[] =
    "usage: uvreap-init [-g] [-v] -- command [args...]\n"
    "  -g          forward signals to the command's process group (started in a new one)\n"
    "  -v          report each reaped orphan on stderr\n"
    "  -h, --help  this text\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "uvreap-init: %s\n%s", why.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  init_state st;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "-g") {
      st.group = true;
    } else if (a == "-v") {
      st.verbose = true;
    } else {
      return usage("unknown option " + std::string(a));
    }
  }
  if (i >= argc) return usage("no command given");

  uv_loop_t* loop = uv_default_loop();
  uvreap::options opts;
  opts.reap_policy = uvreap::policy::all;
  opts.subreaper = true;  // orphans below us come to us even when we are not pid 1
  opts.on_orphan = [&st](const uvreap::exit_status& s) {
    if (st.verbose)
      std::fprintf(stderr, "uvreap-init: reaped orphan %s\n", uvreap::to_string(s).c_str());
  };
  std::error_code ec;
  auto reaper = uvreap::reaper::create(loop, std::move(opts), ec);
  if (!reaper) {
    std::fprintf(stderr, "uvreap-init: %s\n", ec.message().c_str());
    return 1;
  }
  st.reaper = &*reaper;

  // Forwarded signals are watched before the command starts, so none is lost to the
  // default action (which would kill the init itself).
  for (std::size_t s = 0; s < kForwarded.size(); ++s) {
    uv_signal_init(loop, &st.signals[s]);
    st.signals[s].data = &st;
    uv_signal_start(&st.signals[s], forward, kForwarded[s]);
    uv_unref(reinterpret_cast<uv_handle_t*>(&st.signals[s]));
  }

  uvreap::spawn_options cmd;
  for (int k = i; k < argc; ++k)
    cmd.argv.emplace_back(argv[k]);
  cmd.new_process_group = st.group;
  st.command = reaper->spawn(
      cmd,
      [&st](const uvreap::exit_status& s) {
        st.status = s;
        uv_stop(st.reaper->loop());
      },
      ec);
  int rc = 0;
  if (st.command < 0) {
    std::fprintf(stderr, "uvreap-init: %s: %s\n", argv[i], ec.message().c_str());
    rc = ec == std::errc::permission_denied || ec.value() == ENOEXEC ? 126 : 127;
  } else {
    uv_run(loop, UV_RUN_DEFAULT);
    if (st.status->exited()) {
      rc = st.status->code();
    } else if (st.status->signaled()) {
      rc = 128 + st.status->signal();
    } else {
      rc = 255;  // lost: cannot happen in a process where we are the only reaper
    }
  }

  // Anything still running was orphaned by the command and is not ours to wait for:
  // like tini, exit now (in a pid namespace the kernel ends them with us).
  reaper->close(uvreap::close_options::leave_running());
  for (auto& s : st.signals)
    uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return rc;
}
