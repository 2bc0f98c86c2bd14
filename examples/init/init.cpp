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
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
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
#include "../common/std_fds.hpp"
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

// Never watched whatever -r says: what cannot be caught, the reaper's SIGCHLD, and the two
// real-time signals glibc keeps for itself (32, 33).
bool watchable(int sig) {
  return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD &&
         (sig <= 31 || sig >= SIGRTMIN);
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
  int signal_fd = -1;  // every watched signal, blocked and read here (see main)
  uv_poll_t signal_poll{};
  std::uint64_t forwarded = 0;
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

void on_signal(init_state& st, int signum) {
  if (st.status) return;  // the command is gone; nothing to forward to
  const int sig = st.rewrite[static_cast<std::size_t>(signum)];
  if (st.verbosity >= 2) {
    std::fprintf(stderr, "uvreap-init: signal %d, forwarding %d\n", signum, sig);
  }
  if (sig == 0) return;  // -r N:0 drops it
  ++st.forwarded;
  send(st, sig);
  // dumb-init's job control: the command was told to stop; so does init, and SIGCONT
  // (which the kernel delivers to a stopped init first) is forwarded above.
  if (signum == SIGTSTP || signum == SIGTTIN || signum == SIGTTOU) ::raise(SIGSTOP);
}

// The signalfd is readable: take every queued signal, in the kernel's order.
void on_signal_fd(uv_poll_t* h, int status, int /*events*/) {
  auto& st = *static_cast<init_state*>(h->data);
  if (status < 0) {
    std::fprintf(stderr, "uvreap-init: watching signals: %s\n", uv_strerror(status));
    return;
  }
  signalfd_siginfo info[64];
  for (;;) {
    const ssize_t n = ::read(st.signal_fd, info, sizeof info);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno != EAGAIN)
        std::fprintf(stderr, "uvreap-init: read(signalfd): %s\n", std::strerror(errno));
      return;
    }
    const auto count = static_cast<std::size_t>(n) / sizeof info[0];
    for (std::size_t k = 0; k < count; ++k)
      on_signal(st, static_cast<int>(info[k].ssi_signo));
    if (count < std::size(info)) return;
  }
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
  } kNames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
                {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
                {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
                {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
                {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
                {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
                {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
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

// tini reads its verbosity with atoi: leading blanks and a sign are taken, anything
// after the digits is ignored, and text without digits is 0. A container that sets
// TINI_VERBOSITY=abc starts under tini, so it starts here (a level below 0 is 0).
int verbosity_from(const char* v) {
  errno = 0;
  const long n = std::strtol(v, nullptr, 10);
  if (n < 0) return 0;
  if (n > 100 || errno == ERANGE) return 100;
  return static_cast<int>(n);
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything opens an fd: a closed 0, 1 or 2 would be handed to the next open()
  // (libuv's epoll fd, then given to the command as its stdin), and libuv asserts at exit
  // that it never closes an fd below 3.
  if (!uvreap::examples::open_standard_fds()) {
    return 1;  // nowhere to say why: stderr may be what could not be opened
  }

  init_state st;
  for (int s = 0; s < NSIG; ++s)
    st.rewrite[static_cast<std::size_t>(s)] = s;
  int pdeathsig = 0;
  sigset_t watched;
  sigemptyset(&watched);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (forwardable(sig) && watchable(sig)) sigaddset(&watched, sig);
  }

  // The environment first, so that flags override it.
  for (const char* name : {"UVREAP_INIT_VERBOSITY", "TINI_VERBOSITY"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      st.verbosity = verbosity_from(v);
      break;
    }
  }
  st.group = env_set("UVREAP_INIT_KILL_PROCESS_GROUP", "TINI_KILL_PROCESS_GROUP");

  // getopt's rules, as tini's: bundled flags (-vvv, -sg), values attached (-e143,
  // -pSIGUSR1) or apart, and options end at "--" or at the first word that is not one
  // ("+").
  enum { kVersion = 256 };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, kVersion},
                                 {nullptr, 0, nullptr, 0}};
  opterr = 0;
  for (;;) {
    const int c = getopt_long(argc, argv, "+:hsvwge:p:r:", kLong, nullptr);
    if (c == -1) break;
    const std::string v = optarg != nullptr ? optarg : "";
    switch (c) {
      case 'h':
        std::fputs(kUsage, stdout);
        return 0;
      case kVersion:
        std::printf("uvreap-init %s\n", UVREAP_VERSION_STRING);
        return 0;
      case 's':
        break;
      case 'v':
        ++st.verbosity;
        break;
      case 'w':
        st.warn_zombies = true;
        break;
      case 'g':
        st.group = true;
        break;
      case 'e': {
        std::uint64_t code = 0;
        std::string why;
        if (!uvreap::examples::parse_uint("-e", v.c_str(), 0, 255, code, why)) return usage(why);
        st.success_codes.insert(static_cast<int>(code));
        break;
      }
      case 'p':
        pdeathsig = parse_signal(v, false);
        if (pdeathsig < 0) return usage("-p takes a signal, not '" + v + "'");
        break;
      case 'r': {
        const auto colon = v.find(':');
        const int from = colon == std::string::npos ? -1 : parse_signal(v.substr(0, colon), false);
        const int to = colon == std::string::npos ? -1 : parse_signal(v.substr(colon + 1), true);
        if (from < 0 || to < 0) return usage("-r takes FROM:TO signals, not '" + v + "'");
        if (!watchable(from)) {
          return usage("-r: signal " + std::to_string(from) +
                       " cannot be watched, so not rewritten");
        }
        // A fault signal is not watched by default (a real fault means init crashed),
        // but one named here is: sent by kill, it is rewritten like any other.
        sigaddset(&watched, from);
        st.rewrite[static_cast<std::size_t>(from)] = to;
        break;
      }
      case ':':
        return usage("missing value after -" + std::string(1, static_cast<char>(optopt)));
      default:
        return usage("unknown option " + (optopt != 0
                                              ? "-" + std::string(1, static_cast<char>(optopt))
                                              : std::string(argv[optind - 1])));
    }
  }
  const int i = optind;
  if (i >= argc) return usage("no command given");

  // Every watched signal stays blocked for good and is read from a signalfd on the loop:
  // the kernel queues them (real-time ones each, standard ones once), and nothing between
  // the kernel and init can drop one, as libuv's signal pipe drops messages once 4,096
  // are waiting. A signal already pending when init started (blocked by its parent) is
  // read there too instead of taking its default action. Everything else is unblocked:
  // SIGCHLD for the reaper, and the faults, which must kill a crashed init. The command
  // starts with an empty mask (the spawn engine resets it).
  if (::sigprocmask(SIG_SETMASK, &watched, nullptr) != 0) {
    std::fprintf(stderr, "uvreap-init: sigprocmask: %s\n", std::strerror(errno));
    return 1;
  }
  st.signal_fd = ::signalfd(-1, &watched, SFD_NONBLOCK | SFD_CLOEXEC);
  if (st.signal_fd < 0) {
    std::fprintf(stderr, "uvreap-init: signalfd: %s\n", std::strerror(errno));
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

  // Signals that arrive from here on wait in the signalfd until the loop runs, after the
  // command has started, and are forwarded then. The watch keeps no loop alive: the
  // command does.
  st.signal_poll.data = &st;
  if (int r = uv_poll_init(loop, &st.signal_poll, st.signal_fd);
      r < 0 || (r = uv_poll_start(&st.signal_poll, UV_READABLE, on_signal_fd)) < 0) {
    std::fprintf(stderr, "uvreap-init: watching signals: %s\n", uv_strerror(r));
    return 1;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&st.signal_poll));

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
    rc = ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory ? 127 : 126;
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
  uv_close(reinterpret_cast<uv_handle_t*>(&st.signal_poll), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  ::close(st.signal_fd);  // after libuv let go of it (uv_poll_t does not close its fd)
  if (st.verbosity >= 2) {
    std::fprintf(stderr, "uvreap-init: %llu signals forwarded\n",
                 static_cast<unsigned long long>(st.forwarded));
  }
  return rc;
}
