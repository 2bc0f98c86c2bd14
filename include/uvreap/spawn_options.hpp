// SPDX-License-Identifier: MIT
// uvreap: what to start and how, for reaper::spawn.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "uvreap/exit_status.hpp"  // uvreap::tree

namespace uvreap {

/// Where one of the child's fds comes from: entry N of `spawn_options::stdio_map` is the
/// child's fd N (libuv's `uv_stdio_container_t`, in C++).
///
/// The child's fds 0-2 are blocking, as with uv_spawn: an inherited fd, a given fd or a
/// stream's fd (libuv makes its streams' fds O_NONBLOCK) has O_NONBLOCK cleared in the
/// child. That flag belongs to the open file, so the parent's fd for it becomes blocking
/// too. Only a `pipe` with `nonblocking` set gives the child a non-blocking stdio fd.
/// (On a kernel without the engine's calls, where posix_spawn starts the child, the flag
/// is left as it is.)
struct stdio {
  /// The source of the fd.
  enum class kind : unsigned char {
    inherit,   ///< the parent's fd of the same number (closed in the child if closed here)
    dev_null,  ///< /dev/null, opened read-write
    fd,        ///< a given open fd of the parent (the parent keeps its copy)
    closed,    ///< not open in the child
    stream,    ///< the fd of an open libuv stream (libuv's UV_INHERIT_STREAM)
    pipe,      ///< a new pipe; the parent's end opens the given `uv_pipe_t`
  };
  /// Which way a `kind::pipe` carries data, from the child's side.
  enum class flow : unsigned char {
    to_child,    ///< the child reads (its stdin, say); the parent's end writes
    from_child,  ///< the child writes (stdout, stderr); the parent's end reads
    both,        ///< a socket pair: either side reads and writes
  };
  kind how = kind::inherit;           ///< where it comes from
  int fd = -1;                        ///< with kind::fd
  uv_stream_t* stream = nullptr;      ///< with kind::stream
  uv_pipe_t* pipe_handle = nullptr;   ///< with kind::pipe
  flow direction = flow::from_child;  ///< with kind::pipe
  bool nonblocking = false;           ///< with kind::pipe: the child's end is O_NONBLOCK

  /// The parent's fd of the same number.
  [[nodiscard]] static stdio inherit() noexcept { return {}; }
  /// /dev/null.
  [[nodiscard]] static stdio null() noexcept { return with(kind::dev_null); }
  /// A copy of the parent's `fd`.
  [[nodiscard]] static stdio from_fd(int fd) noexcept {
    stdio s = with(kind::fd);
    s.fd = fd;
    return s;
  }
  /// Not open in the child.
  [[nodiscard]] static stdio none() noexcept { return with(kind::closed); }
  /// A copy of an open libuv stream's fd (a TCP socket, a pipe, a TTY).
  [[nodiscard]] static stdio from_stream(uv_stream_t* s) noexcept {
    stdio r = with(kind::stream);
    r.stream = s;
    return r;
  }
  /// A new pipe. `p` must be initialised (`uv_pipe_init`) and not open; after a
  /// successful spawn it is open on the parent's end, ready for `uv_read_start` or
  /// `uv_write`, and it is the caller's to close. On a failed spawn it is left as given
  /// (still not open) and no fd of the pipe is left behind.
  [[nodiscard]] static stdio pipe(uv_pipe_t* p, flow direction) noexcept {
    stdio r = with(kind::pipe);
    r.pipe_handle = p;
    r.direction = direction;
    return r;
  }

 private:
  static stdio with(kind k) noexcept {
    stdio s;
    s.how = k;
    return s;
  }
};

/// One resource limit for the child (`setrlimit(resource, {soft, hard})`).
struct resource_limit {
  int resource = 0;             ///< RLIMIT_NOFILE, RLIMIT_CORE, ...
  rlim_t soft = RLIM_INFINITY;  ///< the limit in force
  rlim_t hard = RLIM_INFINITY;  ///< the ceiling the child may raise `soft` to
};

/// A time limit for a spawned child, counted from the `spawn` call.
///
/// When it expires the child gets `signal`; if it is still running `grace` later it gets
/// SIGKILL. Its exit record then says `deadline_fired()`. Signals go only to a child that
/// is not reaped yet, so never to a recycled pid.
///
/// The clock: `after` is counted from the `spawn` call itself (for a `spawn` from another
/// thread, from the moment the child was made there), and `grace` from the first signal,
/// whatever the loop did earlier in the same iteration (libuv's cached `uv_now` is brought
/// up to date before arming). A limit can fire late — the loop thread may be busy — but
/// never early.
///
/// What counts as "in time": the child's exit has happened by the time the loop thread
/// acts on the limit. Each step (the first signal, and SIGKILL after the grace) first asks
/// the kernel whether the child has exited — its exit may still be unread because libuv
/// runs timers before it polls for I/O. If it has, the step sends nothing: the child is
/// reaped there and then and delivered with its own status, `deadline_fired()` false
/// when the first signal was never sent (the skipped step is counted in
/// `stats::signals_skipped`). An exit that the reaper has already seen cancels the limit:
/// no signal, no timer keeping the loop alive. With `process_group`, a leader that
/// exited in time keeps its group from being signalled too.
struct deadline {
  /// From spawn to the first signal. Must be positive.
  std::chrono::milliseconds after{0};
  /// The first signal; SIGKILL skips the grace period.
  int signal = SIGTERM;
  /// From the first signal to SIGKILL. Zero sends SIGKILL on the next loop iteration.
  std::chrono::milliseconds grace{2000};
  /// Signal the child's process group (`kill(-pid, sig)`) instead of the child alone, so
  /// that its own children go too. Requires `new_session`, `new_process_group` or a
  /// `terminal` (which makes a session).
  bool process_group = false;
};

/// A pseudo-terminal for the child (`spawn_options::terminal`): the child believes it
/// runs on a terminal (isatty, `tty`, job control, Ctrl-C) — what shells, editors and
/// REPLs need.
///
/// In the child: a new session (setsid) whose controlling terminal is the pty's slave
/// (TIOCSCTTY), on each of fds 0-2 that `stdio_map` leaves as `stdio::inherit()` or does
/// not name (at least one of them), already `cols` x `rows` when the program starts. The
/// slave is opened with the kernel's default line discipline (canonical mode, echo,
/// ISIG: Ctrl-C, Ctrl-Z and Ctrl-\ signal the foreground process group) plus IUTF8, and
/// is closed in the parent once the child runs. `reaper::resize` changes the size later.
///
/// The parent's end, the pty's master, opens `handle`: a `uv_pipe_t` (not a `uv_tty_t`,
/// which libuv can only make on an fd it is given, whereas here the spawn makes the fd),
/// as for `stdio::pipe`: initialised (`uv_pipe_init`, ipc 0), not open; after a
/// successful spawn it is open on the master, ready for `uv_read_start` (what the child
/// writes to its terminal) and `uv_write` (what it reads: keystrokes, "\x03" for Ctrl-C),
/// and it is the caller's to close — closing it hangs the terminal up (the session gets
/// SIGHUP). On a failed spawn it is left unopened and no fd of the pty stays open.
///
/// The end of the stream: once the child and everything else that had the terminal open
/// are gone, the master reads what is left and then fails with EIO, which libuv reports
/// to the read callback as `UV_EIO`. For a terminal that is the end of the stream (as
/// `UV_EOF` is for a pipe), never a loss: every byte written before it is read first,
/// even when the child's exit callback has already run.
///
/// For code that wraps fds itself (a Node addon handing the fd to `net.Socket`):
/// `master_fd` instead of `handle` receives the master's fd (O_CLOEXEC, blocking), the
/// caller's to read, write and close; written once the child runs (for `spawn_async`,
/// just before `on_started`, so it must stay valid until then), untouched on failure.
/// The reaper keeps the fd's number for `resize` and for the end of the stream: read it
/// with libuv or another poller whose hang-up rule is the same, and close it only when
/// done with the terminal.
struct terminal_options {
  int cols = 80;  ///< columns, 1 to 65,535
  int rows = 24;  ///< rows, 1 to 65,535
  uv_pipe_t* handle = nullptr;  ///< the parent's end (see above); this or `master_fd`
  int* master_fd = nullptr;     ///< receives the master's fd instead (see above)
};

/// A sandbox for the child (`spawn_options::sandbox`), applied by the child itself just
/// before exec, needing neither root nor namespaces: Landlock (Linux 5.13+) for files and
/// TCP, `PR_SET_NO_NEW_PRIVS`, and a seccomp filter. Everything that allocates — the
/// Landlock ruleset with its rules, the filter — is built in the parent before the
/// clone; the child only restricts itself. The parent is never confined.
///
/// What each rule needs (the Landlock ABI version; `reaper::sandbox_status` says what this
/// kernel has): `read` and `write` ABI 1, and ABI 3 for truncation to be confined too;
/// `network = false` ABI 4; `scope_abstract_unix` and `scope_signals` ABI 6; `seccomp`
/// x86-64. A rule the kernel cannot enforce fails the spawn with ENOTSUP, unless
/// `best_effort` is set: then it is left out, and `exit_status::sandbox_info` says what
/// was applied.
///
/// With a sandbox the child can read (and execute) only beneath `read` and `write`, and
/// write (create, remove, rename into, truncate) only beneath `write` — its program,
/// its shared libraries (/lib, /usr/lib) and whatever it reads (/etc files, /dev/urandom)
/// included. Fds it inherits keep the access they were opened with (its stdio, pipes).
struct sandbox_options {
  /// Paths readable and executable, with everything beneath them (files or directories).
  std::vector<std::string> read;
  /// Paths readable, executable and writable — create, remove, rename, truncate — with
  /// everything beneath them.
  std::vector<std::string> write;
  /// False: TCP bind and connect are denied (ABI 4); UDP and unix sockets are not
  /// Landlock's to deny. True leaves the network as it is.
  bool network = true;
  /// The child cannot connect to abstract unix sockets made outside its sandbox (ABI 6).
  bool scope_abstract_unix = false;
  /// The child cannot signal processes outside its sandbox (ABI 6).
  bool scope_signals = false;
  /// A seccomp filter refusing (EPERM) the documented default list — ptrace,
  /// process_vm_readv/writev, mount, umount2, pivot_root, chroot, the new mount API,
  /// unshare, setns, bpf, perf_event_open, userfaultfd, kexec_load/kexec_file_load,
  /// init/finit/delete_module, reboot, swapon/swapoff, acct, quotactl, syslog,
  /// add_key/request_key/keyctl, open_by_handle_at, iopl, ioperm — plus `deny_syscalls`,
  /// and killing a process that uses another architecture's syscalls (x32, i386).
  bool seccomp = false;
  /// More syscall numbers the filter refuses (0-1023); non-empty implies `seccomp`.
  std::vector<int> deny_syscalls;
  /// Leave out what the kernel cannot enforce instead of failing with ENOTSUP.
  bool best_effort = false;
};

/// How to start a child. Every string must be free of NUL bytes.
///
/// In the child, whatever the parent had: the signal mask is empty, every signal's
/// disposition is the default (SIG_IGN included, so a server's ignored SIGPIPE does not
/// leak), and no fd is open but those `stdio_map` names.
///
/// The steps in the child, in order (the first that fails is the error `spawn` returns,
/// and no child is left running): a new session or process group; the fds; the
/// controlling terminal (`terminal`) or the foreground group (`foreground_terminal`); `rlimits`;
/// `umask`; supplementary groups, then gid, then uid; the parent-death signal; `cwd`
/// (entered as the new user); exec. With a `sandbox`: no_new_privs and Landlock after
/// the parent-death signal, and the seccomp filter just before exec.
struct spawn_options {
  /// argv[0] is the program unless `file` is set. Must not be empty.
  std::vector<std::string> argv;
  /// The program to execute; empty means argv[0].
  std::string file;
  /// Look the program up when it has no '/': in the PATH of `env` when it sets one,
  /// else in the parent's PATH (execvp's rules: a directory where it is not executable
  /// is skipped, EACCES reported if no directory has it executable).
  bool search_path = true;
  /// The environment, each entry "KEY=value"; nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  /// The working directory; empty inherits the parent's.
  std::string cwd;
  /// The child's fds: entry N is fd N (at most 1,024 entries). Fds 0-2 without an entry
  /// are /dev/null, as with uv_spawn; fds above the last entry are not open. The
  /// default inherits 0, 1 and 2.
  std::vector<stdio> stdio_map{stdio::inherit(), stdio::inherit(), stdio::inherit()};
  /// setsid() in the child: a new session and process group, no controlling terminal
  /// (uv_spawn's UV_PROCESS_DETACHED).
  bool new_session = false;
  /// setpgid(0, 0) in the child: a new process group (exclusive with new_session).
  bool new_process_group = false;
  /// With `new_process_group`: make the child's group the foreground group of the
  /// terminal on its fd 0 (tcsetpgrp), so that it can read the terminal and gets its
  /// Ctrl-C and Ctrl-Z. Nothing happens when fd 0 is not a terminal.
  bool foreground_terminal = false;
  /// execvp's rule: a program that exec refuses as not executable (ENOEXEC: a script
  /// without "#!") is run as `/bin/sh program args...`, as libuv's uv_spawn does.
  bool shell_fallback = false;
  /// Run as this user (setuid). Needs the privilege to switch.
  std::optional<uid_t> uid;
  /// Run as this group (setgid).
  std::optional<gid_t> gid;
  /// Supplementary groups (setgroups); an empty list clears them. When not given but
  /// `uid` or `gid` is, they are cleared, and it is an error (EPERM) if that fails while
  /// the process has any to drop.
  std::optional<std::vector<gid_t>> groups;
  /// The child's umask (0 to 0777).
  std::optional<mode_t> umask;
  /// Resource limits to set in the child (soft <= hard).
  std::vector<resource_limit> rlimits;
  /// PR_SET_PDEATHSIG: the signal the child gets when the thread that spawned it exits
  /// (for a spawn on the loop thread, the loop thread). 0 for none.
  int parent_death_signal = 0;
  /// A time limit (see `deadline`); nullopt for none. With a `tree`, it ends the tree.
  std::optional<uvreap::deadline> time_limit;
  /// What holds the child's whole tree (Linux):
  /// - `none`: nothing; `kill`, time limits and `close` reach the child alone (or its
  ///   group, where asked), and whatever it starts outlives it.
  /// - `cgroup`: the child is born in a cgroup v2 of its own (clone3 CLONE_INTO_CGROUP)
  ///   under the reaper's (`options::cgroup_parent`). When the child exits, what is left
  ///   of its tree is killed (cgroup.kill) and the exit callback runs once the cgroup is
  ///   empty (cgroup.events, watched on the loop); `exit_status::tree_info` says how many
  ///   were left and the tree's CPU time. `kill_tree`, time limits and `close` act on the
  ///   whole tree; nothing in it can leave. Errors from `spawn` (and no child): what
  ///   making the cgroup reported (EACCES, EROFS, ENOENT when no v2 hierarchy is
  ///   mounted), ENOTSUP where cgroups have neither cgroup.kill nor cgroup.freeze,
  ///   ENOSYS where clone3 with CLONE_INTO_CGROUP is refused (before Linux 5.7, or a
  ///   seccomp filter); `reaper::cgroup_status` says why in words.
  /// - `process_group`: the child leads a new process group (as with
  ///   `new_process_group`; a `new_session` does too), signalled as a group, and SIGKILLed
  ///   as a group when the child exits. A process that calls setsid or setpgid leaves the
  ///   group and escapes.
  /// - `automatic`: `cgroup` where it can be made, else `process_group`;
  ///   `tree_info().applied` says which.
  uvreap::tree tree = uvreap::tree::none;
  /// A pseudo-terminal on the child's fds 0-2 (see `terminal_options`); nullopt for none.
  /// Implies a new session (`new_process_group` is then an error). Errors from `spawn`:
  /// EINVAL (a size outside 1-65,535, neither or both of `handle` and `master_fd`, a
  /// handle that is not an unopened `uv_pipe_t`, every one of fds 0-2 taken by
  /// `stdio_map`, `new_process_group`), and
  /// what opening the pty reported (ENOENT or ENXIO without /dev/ptmx, ENOSPC at the
  /// system's pty limit, EMFILE).
  std::optional<terminal_options> terminal;
  /// Confinement (see `sandbox_options`); nullopt for none. Errors from `spawn`: ENOTSUP
  /// (a rule this kernel cannot enforce, without `best_effort`: `reaper::sandbox_status`
  /// says which), ENOENT or EACCES (a path that cannot be opened), EINVAL (an empty or
  /// NUL-holding path, a syscall number outside 0-1023), EMFILE.
  std::optional<sandbox_options> sandbox;
};

}  // namespace uvreap
