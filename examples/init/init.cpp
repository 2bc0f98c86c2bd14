// SPDX-License-Identifier: MIT
// uvreap-init: a container init on libuv — runs one command, forwards signals to it,
// reaps every orphan, and exits with the command's status. Its flags are tini's, plus
// dumb-init's signal rewriting, so that a Dockerfile can swap either binary for it.
//
//   uvreap-init [-h] [--version] [-s] [-v]... [-w] [-g] [-e CODE]... [-p SIGNAL]
//               [-r FROM:TO]... [--] command [args...]
//
// Exit status: the command's exit code (0 for a code given to -e), or 128 + the signal
// that killed it; 127 when the command is not found, 126 when it is not executable, 2 for
// a usage error, 1 when init itself cannot start.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../common/flags.hpp"
#include "uvreap/uvreap.hpp"
#include "uvreap/version.hpp"

namespace {

// Never watched: signals a process cannot catch, SIGCHLD (the reaper's), and the
// synchronous faults, which mean init itself crashed (tini's list).
bool forwardable(int sig) {
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGCHLD:
    case SIGFPE:
    case SIGILL:
    case SIGSEGV:
    case SIGBUS:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS:
      return false;
    default:
      return true;
  }
}

struct init_state {
  uvreap::reaper* reaper = nullptr;
  pid_t command = -1;
  bool group = false;
  int verbosity = 0;
  bool warn_zombies = false;
  std::array<int, NSIG> rewrite{};  // signal -> what to send (0: drop); identity by default
  std::set<int> success_codes;      // -e
  std::optional<uvreap::exit_status> status;
  std::vector<uv_signal_t*> signals;
};

void send(init_state& st, int sig) {
  if (st.group) {
    // The command leads its group and is not reaped yet, so the group id is still its.
    if (::kill(-st.command, sig) != 0 && errno != ESRCH) {
      std::fprintf(stderr, "uvreap-init: kill(-%d, %d): %s\n", st.command, sig,
                   std::strerror(errno));
    }
    return;
  }
  std::error_code ec;
  st.reaper->kill(st.command, sig, ec);
  if (ec && ec != std::errc::no_such_process) {
    std::fprintf(stderr, "uvreap-init: kill(%d, %d): %s\n", st.command, sig, ec.message().c_str());
  }
}

void on_signal(uv_signal_t* h, int signum) {
  auto& st = *static_cast<init_state*>(h->data);
  if (st.status) return;  // the command is gone; nothing to forward to
  const int sig = st.rewrite[static_cast<std::size_t>(signum)];
  if (st.verbosity >= 2) {
    std::fprintf(stderr, "uvreap-init: signal %d, forwarding %d\n", signum, sig);
  }
  if (sig == 0) return;  // -r N:0 drops it
  send(st, sig);
  // dumb-init's job control: the command was told to stop; so does init, and SIGCONT
  // (which the kernel delivers to a stopped init first) is forwarded above.
  if (signum == SIGTSTP || signum == SIGTTIN || signum == SIGTTOU) ::raise(SIGSTOP);
}

constexpr char kUsage[] =
    "usage: uvreap-init [options] [--] command [args...]\n"
    "  -h, --help     this text\n"
    "  --version      the version\n"
    "  -s             be a subreaper (accepted: uvreap-init always is one)\n"
    "  -v             more verbose (repeatable): 1 reports each reaped orphan, 2 each\n"
    "                 forwarded signal\n"
    "  -w             warn on stderr for each orphan (zombie) reaped\n"
    "  -g             start the command in a new process group, make it the terminal's\n"
    "                 foreground group, forward signals to the whole group, and send\n"
    "                 SIGTERM to what is left of it when the command exits\n"
    "  -e CODE        exit 0 when the command exits with CODE (repeatable)\n"
    "  -p SIGNAL      get SIGNAL when init's own parent dies (PR_SET_PDEATHSIG)\n"
    "  -r FROM:TO     forward signal FROM as TO, or drop it when TO is 0 (repeatable)\n"
    "Environment: UVREAP_INIT_VERBOSITY / TINI_VERBOSITY (a number),\n"
    "UVREAP_INIT_KILL_PROCESS_GROUP / TINI_KILL_PROCESS_GROUP (non-empty: -g),\n"
    "UVREAP_INIT_SUBREAPER / TINI_SUBREAPER (accepted, as -s).\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "uvreap-init: %s\n%s", why.c_str(), kUsage);
  return 2;
}

// A signal by number (1..NSIG-1) or name ("TERM", "SIGTERM", "RTMIN+2"); -1 if neither.
int parse_signal(std::string_view s, bool allow_zero) {
  std::uint64_t n = 0;
  std::string why;
  const std::string text(s);
  if (uvreap::examples::parse_uint("signal", text.c_str(), allow_zero ? 0 : 1, NSIG - 1, n, why)) {
    return static_cast<int>(n);
  }
  if (s.substr(0, 3) == "SIG") s.remove_prefix(3);
  static const struct {
    const char* name;
    int sig;
  } kNames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
                {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},     {"FPE", SIGFPE},
                {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
                {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT},
                {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},
                {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},     {"XCPU", SIGXCPU},
                {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH},
                {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS}};
  for (const auto& e : kNames) {
    if (s == e.name) return e.sig;
  }
  for (const std::string_view base : {"RTMIN", "RTMAX"}) {
    if (s.substr(0, base.size()) != base) continue;
    const int at = base == "RTMIN" ? SIGRTMIN : SIGRTMAX;
    std::string_view rest = s.substr(base.size());
    if (rest.empty()) return at;
    const int sign = rest[0] == '+' ? 1 : rest[0] == '-' ? -1 : 0;
    const std::string off(rest.substr(1));
    if (sign == 0 || !uvreap::examples::parse_uint("signal", off.c_str(), 0, 64, n, why)) {
      return -1;
    }
    const int sig = at + sign * static_cast<int>(n);
    return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -1;
  }
  return -1;
}

bool env_set(const char* ours, const char* tinis) {
  for (const char* name : {ours, tinis}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  init_state st;
  for (int s = 0; s < NSIG; ++s)
    st.rewrite[static_cast<std::size_t>(s)] = s;
  int pdeathsig = 0;

  // The environment first, so that flags override it.
  for (const char* name : {"UVREAP_INIT_VERBOSITY", "TINI_VERBOSITY"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      std::uint64_t n = 0;
      std::string why;
      if (!uvreap::examples::parse_uint(name, v, 0, 10, n, why)) return usage(why);
      st.verbosity = static_cast<int>(n);
      break;
    }
  }
  st.group = env_set("UVREAP_INIT_KILL_PROCESS_GROUP", "TINI_KILL_PROCESS_GROUP");

  // Options end at "--" or at the first word that is not one (tini's getopt "+").
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("uvreap-init %s\n", UVREAP_VERSION_STRING);
      return 0;
    }
    if (a == "-s") continue;
    if (a == "-v") {
      ++st.verbosity;
      continue;
    }
    if (a == "-w") {
      st.warn_zombies = true;
      continue;
    }
    if (a == "-g") {
      st.group = true;
      continue;
    }
    if (a != "-e" && a != "-p" && a != "-r") return usage("unknown option " + std::string(a));
    if (i + 1 >= argc) return usage("missing value after " + std::string(a));
    const std::string v = argv[++i];
    if (a == "-e") {
      std::uint64_t code = 0;
      std::string why;
      if (!uvreap::examples::parse_uint("-e", v.c_str(), 0, 255, code, why)) return usage(why);
      st.success_codes.insert(static_cast<int>(code));
    } else if (a == "-p") {
      pdeathsig = parse_signal(v, false);
      if (pdeathsig < 0) return usage("-p takes a signal, not '" + v + "'");
    } else {
      const auto colon = v.find(':');
      const int from = colon == std::string::npos ? -1 : parse_signal(v.substr(0, colon), false);
      const int to = colon == std::string::npos ? -1 : parse_signal(v.substr(colon + 1), true);
      if (from < 0 || to < 0) return usage("-r takes FROM:TO signals, not '" + v + "'");
      st.rewrite[static_cast<std::size_t>(from)] = to;
    }
  }
  if (i >= argc) return usage("no command given");

  // A parent that blocked signals before exec leaves them blocked here; an init must
  // receive everything it is to forward.
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) {
    std::fprintf(stderr, "uvreap-init: sigprocmask: %s\n", std::strerror(errno));
    return 1;
  }
  if (pdeathsig != 0 && ::prctl(PR_SET_PDEATHSIG, pdeathsig) != 0) {
    std::fprintf(stderr, "uvreap-init: prctl(PR_SET_PDEATHSIG): %s\n", std::strerror(errno));
    return 1;
  }

  uv_loop_t* loop = uv_default_loop();
  uvreap::options opts;
  opts.reap_policy = uvreap::policy::all;
  opts.subreaper = true;  // orphans below us come to us even when we are not pid 1
  opts.on_orphan = [&st](const uvreap::exit_status& s) {
    if (st.verbosity >= 1 || st.warn_zombies) {
      std::fprintf(stderr, "uvreap-init: reaped orphan %s\n", uvreap::to_string(s).c_str());
    }
  };
  std::error_code ec;
  auto reaper = uvreap::reaper::create(loop, std::move(opts), ec);
  if (!reaper) {
    std::fprintf(stderr, "uvreap-init: %s\n", ec.message().c_str());
    return 1;
  }
  st.reaper = &*reaper;

  // Every forwardable signal is watched before the command starts, so none is lost to
  // the default action (which would kill or stop init itself): 1-31 and the real-time
  // ones (glibc keeps 32 and 33 for itself).
  for (int sig = 1; sig < NSIG; ++sig) {
    if (!forwardable(sig) || (sig > 31 && sig < SIGRTMIN)) continue;
    auto* h = new uv_signal_t;
    uv_signal_init(loop, h);
    h->data = &st;
    if (const int r = uv_signal_start(h, on_signal, sig); r < 0) {
      std::fprintf(stderr, "uvreap-init: watching signal %d: %s\n", sig, uv_strerror(r));
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(h));
    st.signals.push_back(h);
  }

  uvreap::spawn_options cmd;
  for (int k = i; k < argc; ++k)
    cmd.argv.emplace_back(argv[k]);
  cmd.new_process_group = st.group;
  cmd.foreground_terminal = st.group && ::isatty(0) != 0;
  cmd.shell_fallback = true;  // execvp's rule for a script without "#!"
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
    rc = ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory ? 127
                                                                                        : 126;
  } else {
    uv_run(loop, UV_RUN_DEFAULT);
    if (st.status->exited()) {
      rc = st.status->code();
    } else if (st.status->signaled()) {
      rc = 128 + st.status->signal();
    } else {
      rc = 255;  // lost: cannot happen in a process where we are the only reaper
    }
    if (st.success_codes.count(rc) != 0) rc = 0;
    // dumb-init's setsid mode: what is left of the command's group goes with it. The
    // group id cannot be handed out again while any member is alive.
    if (st.group && ::kill(-st.command, SIGTERM) != 0 && errno != ESRCH) {
      std::fprintf(stderr, "uvreap-init: kill(-%d, SIGTERM): %s\n", st.command,
                   std::strerror(errno));
    }
  }

  // Anything still running was orphaned by the command and is not ours to wait for:
  // like tini, exit now (in a pid namespace the kernel ends them with us).
  reaper->close(uvreap::close_options::leave_running());
  for (uv_signal_t* h : st.signals) {
    uv_close(reinterpret_cast<uv_handle_t*>(h),
             [](uv_handle_t* x) { delete reinterpret_cast<uv_signal_t*>(x); });
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return rc;
}
