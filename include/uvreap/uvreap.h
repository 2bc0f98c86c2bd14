/* SPDX-License-Identifier: MIT */
/**
 * @file uvreap.h
 * @brief The C API of uvreap, in libuv's idiom.
 *
 * An opaque reaper on a libuv loop; children are spawned or adopted, and each gets one
 * exit callback on the loop thread. Every function that can fail returns 0 or a negative
 * errno, which on Unix is the same number as libuv's `UV_E*` code (`UV_EINVAL`,
 * `UV_EBUSY`, ...). Two errors uvreap returns have no libuv name; they are defined here
 * the same way: UVREAP_ECHILD and UVREAP_ESTALE. `uvreap_strerror` describes them all.
 *
 * The contracts are those of `uvreap::reaper` (reaper.hpp): each child's callback runs
 * exactly once unless the call that gave it returned an error; no zombie is left; with
 * policy own or pidfd no other code's child is ever reaped. `uvreap_spawn` and
 * `uvreap_watch` may be called from any thread; everything else only from the loop
 * thread.
 */
#ifndef UVREAP_UVREAP_H
#define UVREAP_UVREAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default) /* the public API; the rest of the library is hidden */

/** Not an unreaped child of this process (-ECHILD; libuv has no UV_ECHILD). */
#define UVREAP_ECHILD (-ECHILD)
/** The reaper is closed (-ESTALE; libuv has no UV_ESTALE). */
#define UVREAP_ESTALE (-ESTALE)

/** An opaque reaper. Created by uvreap_init, freed after uvreap_close's callback. */
typedef struct uvreap_s uvreap_t;

/** Which children a reaper takes (see reaper.hpp, `uvreap::policy`). */
typedef enum {
  UVREAP_POLICY_OWN = 0,  /**< only children given to it; SIGCHLD + WNOWAIT peek */
  UVREAP_POLICY_ALL = 1,  /**< every child of the process, orphans to on_orphan */
  UVREAP_POLICY_PIDFD = 2 /**< only its own, through pidfds in one epoll set */
} uvreap_policy_t;

/** How a child ended. */
typedef enum {
  UVREAP_EXITED = 0,   /**< exit_status is valid */
  UVREAP_SIGNALED = 1, /**< term_signal and core_dumped are valid */
  UVREAP_LOST = 2      /**< someone else reaped it: the status is gone */
} uvreap_exit_kind_t;

/** One reaped child, as passed to an exit callback. */
typedef struct {
  pid_t pid;               /**< the child's pid (may already belong to another process) */
  uvreap_exit_kind_t kind; /**< how it ended */
  int exit_status;         /**< exit code 0-255 when UVREAP_EXITED, else 0 */
  int term_signal;         /**< the signal when UVREAP_SIGNALED, else 0 */
  int core_dumped;         /**< 1 when UVREAP_SIGNALED and a core was written */
  int deadline_fired;      /**< 1 when its time limit expired and it was signalled */
  int64_t user_cpu_usec;   /**< user CPU time of the child, microseconds */
  int64_t system_cpu_usec; /**< system CPU time of the child, microseconds */
  long max_rss_kib;        /**< peak resident set size, KiB */
  int tree;                /**< what held its tree: UVREAP_TREE_NONE, _CGROUP, _PROCESS_GROUP */
  int descendants_at_exit; /**< cgroup: others of the tree alive at its exit (killed); else -1 */
  int64_t tree_cpu_usec;   /**< cgroup: CPU time of the whole tree (cpu.stat); else -1 */
  int64_t tree_memory_peak; /**< cgroup with the memory controller: memory.peak; else -1 */
  unsigned sandbox;         /**< what confined it: UVREAP_SANDBOX_APPLIED_* bits; 0 = none */
  int landlock_abi;         /**< with a sandbox: the kernel's Landlock ABI (0: none) */
} uvreap_exit_t;

/** uvreap_exit_t's `sandbox`: what was applied (see exit_status.hpp, sandbox_report). */
enum {
  UVREAP_SANDBOX_APPLIED = 1u << 0,         /**< spawned with a sandbox; no_new_privs set */
  UVREAP_SANDBOX_APPLIED_FILES = 1u << 1,   /**< the read and write paths (Landlock) */
  UVREAP_SANDBOX_APPLIED_TRUNCATE = 1u << 2, /**< truncation confined too (ABI 3) */
  UVREAP_SANDBOX_APPLIED_NETWORK = 1u << 3, /**< TCP bind and connect denied (ABI 4) */
  UVREAP_SANDBOX_APPLIED_SCOPES = 1u << 4,  /**< the scopes asked for (ABI 6) */
  UVREAP_SANDBOX_APPLIED_SECCOMP = 1u << 5  /**< the seccomp filter */
};

/** uvreap_exit_t's `tree`: what held the child's tree. */
enum { UVREAP_TREE_NONE = 0, UVREAP_TREE_IN_CGROUP = 1, UVREAP_TREE_IN_PROCESS_GROUP = 2 };

/** Called once per child, on the loop thread, after it was reaped. */
typedef void (*uvreap_exit_cb)(uvreap_t* reaper, const uvreap_exit_t* status, void* data);

/**
 * Called once per uvreap_spawn_async, on the loop thread: `status` 0 and the child's pid
 * once it runs, or a negative errno (UV_ENOENT, UV_EACCES, ...) and pid -1 when it could
 * not start (then no child is left and the exit callback never runs).
 */
typedef void (*uvreap_started_cb)(uvreap_t* reaper, pid_t pid, int status, void* data);

/** Called once the reaper is closed; the reaper is freed when it returns. */
typedef void (*uvreap_close_cb)(uvreap_t* reaper);

/** Construction settings; fill with uvreap_options_init first. */
typedef struct {
  uvreap_policy_t policy;    /**< default UVREAP_POLICY_OWN */
  size_t max_batch;          /**< exits per sweep before yielding to the loop; 512 */
  int subreaper;             /**< policy ALL: PR_SET_CHILD_SUBREAPER while open */
  unsigned poll_interval_ms; /**< safety poll; 0 = automatic (see reaper.hpp) */
  uvreap_exit_cb on_orphan;  /**< policy ALL: children nobody watched; may be NULL */
  void* orphan_data;         /**< passed to on_orphan */
  const char* cgroup_parent; /**< where UVREAP_TREE_CGROUP trees go; NULL = own cgroup */
} uvreap_options_t;

/** Flags of uvreap_spawn_options_t. */
enum {
  UVREAP_SEARCH_PATH = 1u << 0,        /**< look the program up in PATH when it has no '/' */
  UVREAP_NEW_SESSION = 1u << 1,        /**< setsid() in the child */
  UVREAP_NEW_PROCESS_GROUP = 1u << 2,  /**< setpgid(0, 0) in the child */
  UVREAP_KILL_PROCESS_GROUP = 1u << 3, /**< the time limit signals the child's group */
  UVREAP_SETUID = 1u << 4,             /**< run as `uid` (uv_spawn's UV_PROCESS_SETUID) */
  UVREAP_SETGID = 1u << 5,             /**< run as `gid` (uv_spawn's UV_PROCESS_SETGID) */
  UVREAP_SHELL_FALLBACK = 1u << 6, /**< a script without "#!" runs via /bin/sh (execvp's rule) */
  /*
   * What holds the child's whole tree (at most one; see reaper.hpp, spawn_options::tree).
   * CGROUP: a cgroup of its own, entered at birth; killed when the child exits, the exit
   * callback waiting until it is empty. PROCESS_GROUP: a new group, killed with the child
   * (what calls setsid escapes). AUTO: CGROUP where the reaper can make one, else
   * PROCESS_GROUP (the exit record's `tree` says which).
   */
  UVREAP_TREE_CGROUP = 1u << 7,
  UVREAP_TREE_PROCESS_GROUP = 1u << 8,
  UVREAP_TREE_AUTO = 1u << 9,
  UVREAP_DETACHED = UVREAP_NEW_SESSION /**< uv_spawn's UV_PROCESS_DETACHED */
};

/**
 * A pseudo-terminal for the child (spawn_options.hpp, terminal_options): a new session
 * whose controlling terminal is the pty's slave, on each of fds 0-2 at or beyond
 * `stdio_count` (at least one), sized `cols` x `rows`. `handle` is an initialised,
 * unopened uv_pipe_t, opened on the pty's master after a successful spawn (read: what the
 * child writes; write: its keystrokes). When the child is gone and its output read to
 * the end, reading reports UV_EIO: the end of the stream, after the last byte.
 */
typedef struct {
  int cols;          /**< columns, 1 to 65535 */
  int rows;          /**< rows, 1 to 65535 */
  uv_pipe_t* handle; /**< the parent's end (see above); this or `master_fd` */
  int* master_fd;    /**< instead of `handle`: receives the master's fd, the caller's to close */
} uvreap_terminal_t;

/** Flags of uvreap_sandbox_t. */
enum {
  UVREAP_SANDBOX_NO_NETWORK = 1u << 0,          /**< deny TCP bind and connect (ABI 4) */
  UVREAP_SANDBOX_SCOPE_ABSTRACT_UNIX = 1u << 1, /**< no abstract unix socket outside (ABI 6) */
  UVREAP_SANDBOX_SCOPE_SIGNALS = 1u << 2,       /**< no signal to a process outside (ABI 6) */
  UVREAP_SANDBOX_SECCOMP = 1u << 3,             /**< the default seccomp deny list */
  UVREAP_SANDBOX_BEST_EFFORT = 1u << 4 /**< leave out what the kernel cannot enforce */
};

/**
 * A sandbox for the child (spawn_options.hpp, sandbox_options): Landlock paths, the
 * network, scopes, no_new_privs (always) and a seccomp filter, applied by the child just
 * before exec. A rule the kernel cannot enforce fails the spawn with UV_ENOTSUP unless
 * UVREAP_SANDBOX_BEST_EFFORT; the exit record's `sandbox` says what was applied.
 */
typedef struct {
  const char* const* read;  /**< NULL-terminated paths readable and executable; may be NULL */
  const char* const* write; /**< NULL-terminated paths writable too; may be NULL */
  unsigned flags;           /**< UVREAP_SANDBOX_* */
  const int* deny_syscalls; /**< more syscall numbers the filter refuses (implies the filter) */
  int deny_count;           /**< entries in deny_syscalls */
} uvreap_sandbox_t;

/** What to start; fill with uvreap_spawn_options_init first. */
typedef struct {
  const char* file;  /**< program to execute; NULL = args[0] */
  char* const* args; /**< argv, NULL-terminated, at least one entry */
  char* const* env;  /**< "KEY=value" list, NULL-terminated; NULL = inherit */
  const char* cwd;   /**< working directory; NULL = inherit */
  /*
   * The child's fds as uv_spawn takes them: entry N is fd N, libuv's own containers and
   * flags (UV_IGNORE, UV_INHERIT_FD, UV_INHERIT_STREAM, UV_CREATE_PIPE with
   * UV_READABLE_PIPE / UV_WRITABLE_PIPE from the child's side and UV_NONBLOCK_PIPE).
   * UV_CREATE_PIPE takes an initialised, unopened uv_pipe_t, opened on the parent's end
   * after a successful spawn. As with uv_spawn, fds 0-2 without an entry (or
   * UV_IGNORE) are /dev/null and nothing above the last entry is open.
   */
  int stdio_count;             /**< entries in `stdio` */
  uv_stdio_container_t* stdio; /**< the entries (see above); may be NULL when 0 */
  unsigned flags;              /**< UVREAP_SEARCH_PATH (default), UVREAP_NEW_SESSION, ... */
  uv_uid_t uid;                /**< with UVREAP_SETUID */
  uv_gid_t gid;                /**< with UVREAP_SETGID */
  uint64_t timeout_ms;         /**< time limit; 0 = none; above INT64_MAX: -EINVAL */
  int timeout_signal;          /**< signal when it expires; default SIGTERM */
  uint64_t kill_grace_ms; /**< then SIGKILL this much later (all 64 bits: 2^32 ms is 49 days, never
                             wrapped); default 2000; above INT64_MAX: -EINVAL */
  const uvreap_terminal_t* terminal; /**< a pty on fds 0-2; NULL = none (copied at the call) */
  const uvreap_sandbox_t* sandbox;   /**< confinement; NULL = none (copied at the call) */
} uvreap_spawn_options_t;

/** Fills `opts` with the defaults. */
void uvreap_options_init(uvreap_options_t* opts);

/** Fills `opts` with the defaults (no stdio entries, search PATH, no time limit). */
void uvreap_spawn_options_init(uvreap_spawn_options_t* opts);

/**
 * Creates a reaper on `loop` and stores it in `*reaper`. `opts` may be NULL (defaults).
 * Returns 0, UV_EINVAL (NULL loop or reaper, bad option), UV_EBUSY (SIGCHLD ignored, or a
 * second ALL reaper), UV_ENOMEM, or what libuv or the kernel reported.
 */
int uvreap_init(uv_loop_t* loop, const uvreap_options_t* opts, uvreap_t** reaper);

/**
 * Starts a child and owns it; `cb(reaper, status, data)` runs once when it has exited.
 * The pid is stored in `*pid` when `pid` is not NULL. Returns 0, or UV_ENOENT, UV_EACCES,
 * UV_ENOEXEC (exec failed), UV_EAGAIN, UV_EMFILE, UV_ENOMEM, UV_EBADF, UV_EINVAL (NULL or
 * empty args, NULL cb, bad options), UVREAP_ESTALE (closed); then no callback will run.
 */
int uvreap_spawn(uvreap_t* reaper, const uvreap_spawn_options_t* opts, uvreap_exit_cb cb,
                 void* data, pid_t* pid);

/**
 * Starts a child without waiting for it to start: the clone and the exec happen on a
 * thread of the reaper's own, and `started_cb` later gets the pid or the start's error
 * (see uvreap_started_cb); `exit_cb` runs once, after it, for a started child. Pipes in
 * `opts->stdio` are opened on the loop thread just before `started_cb` and must stay
 * valid until then; the options themselves are copied. Returns 0, or what is refused at
 * once: UV_EINVAL (NULL or empty args, a NULL callback, bad options), UV_EMFILE, UV_EBADF
 * and UV_ENOMEM (the pipes), UV_EAGAIN (no thread), UVREAP_ESTALE (closed); then neither
 * callback runs. Any thread may call it.
 */
int uvreap_spawn_async(uvreap_t* reaper, const uvreap_spawn_options_t* opts,
                       uvreap_started_cb started_cb, uvreap_exit_cb exit_cb, void* data);

/**
 * Adopts a child the program started itself. Returns 0, UV_EINVAL (pid <= 0, NULL cb),
 * UV_EBUSY (already watched), UVREAP_ECHILD (not an unreaped child), UVREAP_ESTALE.
 */
int uvreap_watch(uvreap_t* reaper, pid_t pid, uvreap_exit_cb cb, void* data);

/**
 * Signals an owned, unreaped child. Returns 0, UV_ESRCH (not owned or already reaped: no
 * signal is sent), UV_EINVAL (pid <= 0, bad signal), UV_EPERM, UVREAP_ESTALE.
 */
int uvreap_kill(uvreap_t* reaper, pid_t pid, int signum);

/** How uvreap_run feeds and collects a child; fill with uvreap_run_options_init first. */
typedef struct {
  const char* input;  /**< written to the child's stdin, then closed; copied; may be NULL */
  size_t input_len;   /**< bytes of `input` */
  size_t max_output;  /**< bytes of stdout, and of stderr, kept; the rest drained; 1 MiB */
  uint64_t drain_after_exit_ms; /**< output still open this long after the tree is gone is
                                     cut (only a process that left a process group can hold
                                     it); 500; above INT64_MAX: -EINVAL */
  int contain_tree; /**< 1 (default): no UVREAP_TREE_* flag means UVREAP_TREE_AUTO; 0: none */
} uvreap_run_options_t;

/** What uvreap_run collected; the buffers are valid during the callback only. */
typedef struct {
  uvreap_exit_t status; /**< the child's exit, with its tree's */
  const char* out;      /**< stdout, up to max_output bytes (not NUL-terminated) */
  size_t out_len;       /**< bytes at `out` */
  const char* err;      /**< stderr, likewise */
  size_t err_len;       /**< bytes at `err` */
  int out_truncated; /**< 1: stdout had more than max_output bytes */
  int err_truncated; /**< 1: stderr had more than max_output bytes */
  int output_cut;    /**< 1: output pipes were still open drain_after_exit_ms after the tree */
  int input_error;   /**< 0, or a negative errno: UV_EPIPE when the child did not read it all */
} uvreap_run_result_t;

/** Called once per uvreap_run, on the loop thread, when the tree is gone and the output read. */
typedef void (*uvreap_run_cb)(uvreap_t* reaper, const uvreap_run_result_t* result, void* data);

/** Fills `opts` with the defaults (no input, 1 MiB per output, 500 ms drain). */
void uvreap_run_options_init(uvreap_run_options_t* opts);

/**
 * Spawns `opts` and collects it (see reaper.hpp, reaper::run): stdin from `how->input`,
 * stdout and stderr kept up to `how->max_output` each, the tree contained
 * (UVREAP_TREE_AUTO unless a UVREAP_TREE_* flag is given or `contain_tree` is 0), `cb`
 * once the tree is gone.
 * `opts->stdio` entries 0-2 are replaced. `how` may be NULL (defaults). Loop thread only.
 * Returns 0 (and the pid in `*pid` when not NULL), or uvreap_spawn's errors; then `cb`
 * never runs. After uvreap_close, `cb` never runs.
 */
int uvreap_run(uvreap_t* reaper, const uvreap_spawn_options_t* opts,
               const uvreap_run_options_t* how, uvreap_run_cb cb, void* data, pid_t* pid);

/**
 * Signals the whole tree of a child spawned with a UVREAP_TREE_* flag: SIGKILL through
 * cgroup.kill, another signal to every member of the cgroup, or kill(-pid) for a process
 * group. Also reaches what is left of a tree whose child has exited, until its callback.
 * Returns 0, UV_ESRCH (not owned, or its callback has run), UV_EINVAL (pid <= 0, bad
 * signal, a child without a tree), UV_EPERM, UVREAP_ESTALE.
 */
int uvreap_kill_tree(uvreap_t* reaper, pid_t pid, int signum);

/**
 * Sets the terminal size of a child spawned with `terminal` (TIOCSWINSZ; its foreground
 * group gets SIGWINCH). Returns 0, UV_EINVAL (pid <= 0, a size outside 1-65535),
 * UV_ESRCH (not owned, or its callback has run), UV_ENOTTY (no terminal), UV_EBADF (its
 * handle was closed), UVREAP_ESTALE.
 */
int uvreap_resize(uvreap_t* reaper, pid_t pid, int cols, int rows);

/**
 * Whether UVREAP_TREE_CGROUP spawns can work here (it makes the reaper's cgroup if not
 * made yet). Returns 0 or the negative errno a spawn would get; `why` (when not NULL)
 * gets up to `why_size` bytes, NUL-terminated: the reason in words, or the cgroup's path.
 */
int uvreap_cgroup_status(uvreap_t* reaper, char* why, size_t why_size);

/**
 * Closes the reaper: no callback runs after this. Children still running get SIGTERM,
 * SIGKILL 2 s later, and are reaped; then `cb` runs (may be NULL) and the reaper is
 * freed. The loop must run for that. Returns 0, or UV_EINVAL when already closing.
 * A shutdown's `uv_walk` closing every handle, before or after this call, does not stop
 * it (see docs/contracts.md, contract 6); run the loop until uv_run returns 0 before uv_loop_close.
 */
int uvreap_close(uvreap_t* reaper, uvreap_close_cb cb);

/**
 * uvreap_close with a choice: `kill_children` 0 leaves running children alone (they are
 * no longer reaped by this reaper), else they get SIGTERM and SIGKILL after `grace_ms`.
 */
int uvreap_close_ex(uvreap_t* reaper, int kill_children, uint64_t grace_ms, uvreap_close_cb cb);

/** Children owned and not yet reaped. */
size_t uvreap_size(const uvreap_t* reaper);

/** The loop the reaper runs on. */
uv_loop_t* uvreap_loop(const uvreap_t* reaper);

/** The policy in effect (PIDFD runs as OWN on kernels without pidfd_open). */
uvreap_policy_t uvreap_policy(const uvreap_t* reaper);

/** Counters of one reaper since uvreap_init (see stats.hpp for each one's meaning). */
typedef struct {
  uint64_t sweeps;              /**< looks for exited children */
  uint64_t empty_sweeps;        /**< sweeps that found nothing */
  uint64_t exits_reaped;        /**< children reaped and delivered */
  uint64_t orphans_reaped;      /**< policy ALL: children nobody watched */
  uint64_t lost;                /**< children whose status someone else took */
  uint64_t largest_batch;       /**< most exits delivered by one sweep */
  uint64_t continuations;       /**< sweeps continued on the next loop iteration */
  uint64_t coalesced_signals;   /**< SIGCHLDs folded into a sweep already owed */
  uint64_t callback_exceptions; /**< (C++ callbacks only) exceptions caught */
  uint64_t errors;              /**< failures reported to on_error */
  uint64_t deadlines_fired;     /**< time limits that signalled their child */
  uint64_t signals_skipped;     /**< signals not sent: the child had exited already */
  uint64_t syscalls;            /**< every syscall made, all kinds */
  uint64_t syscalls_wait;       /**< of those: wait4 and waitid */
  uint64_t syscalls_spawn;      /**< of those: clone (or posix_spawn) */
  uint64_t syscalls_eintr;      /**< calls retried after EINTR */
} uvreap_stats_t;

/**
 * Copies the reaper's counters into `*out`. Loop thread. Returns 0, or -EINVAL when
 * either argument is NULL. Fields may be added at the end in a later version.
 */
int uvreap_stats(const uvreap_t* reaper, uvreap_stats_t* out);

/** A user pointer kept with the reaper, like libuv's `handle->data`. */
void* uvreap_get_data(const uvreap_t* reaper);
/** Sets the user pointer returned by uvreap_get_data. */
void uvreap_set_data(uvreap_t* reaper, void* data);

/** A description of an error returned by this API (a negative errno / UV_E* code), in
 *  the C library's words; a static string, safe from any thread. */
const char* uvreap_strerror(int err);

/** The library's version, "MAJOR.MINOR.PATCH". */
const char* uvreap_version_string(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* UVREAP_UVREAP_H */
