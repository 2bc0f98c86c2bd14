/* SPDX-License-Identifier: MIT */
/* uvreap tests: the C API, compiled as C11. Exit code 0 when every check passed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "c_check.h"
#include "uvreap/uvreap.h"

typedef struct {
  int calls;
  uvreap_exit_t last;
} record_t;

static void on_exit_cb(uvreap_t* r, const uvreap_exit_t* st, void* data) {
  record_t* rec = data;
  (void)r;
  rec->calls++;
  rec->last = *st;
}

static int closed_calls;
static void on_closed(uvreap_t* r) {
  (void)r;
  closed_calls++;
}

static void on_deadline(uv_timer_t* t) {
  (void)t;
}

/* Runs the loop until *counter reaches want, or 60 s pass (then the check fails). The
 * deadline timer also keeps the loop alive when nothing else does (a reaper with no
 * children of its own, waiting for orphans, does not). */
static void run_until(uv_loop_t* loop, const int* counter, int want) {
  uv_timer_t deadline;
  CHECK(uv_timer_init(loop, &deadline) == 0);
  CHECK(uv_timer_start(&deadline, on_deadline, 60000, 0) == 0);
  uint64_t end = uv_now(loop) + 60000;
  while (*counter < want && uv_now(loop) < end) {
    uv_run(loop, UV_RUN_ONCE);
    uv_update_time(loop);
  }
  CHECK(*counter >= want);
  uv_close((uv_handle_t*)&deadline, NULL);
  uv_run(loop, UV_RUN_NOWAIT); /* lets the close finish before the stack frame goes */
}

static void test_spawn_and_exit(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  char* args[] = {"/bin/sh", "-c", "exit 7", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  record_t rec = {0};
  pid_t pid = 0;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  CHECK(pid > 0);
  CHECK(uvreap_size(r) == 1);
  run_until(loop, &rec.calls, 1);
  CHECK(rec.calls == 1);
  CHECK(rec.last.pid == pid);
  CHECK(rec.last.kind == UVREAP_EXITED);
  CHECK(rec.last.exit_status == 7);
  CHECK(rec.last.term_signal == 0);

  /* A signal, and a time limit. */
  char* sleeper[] = {"/bin/sh", "-c", "exec sleep 60", NULL};
  so.args = sleeper;
  so.timeout_ms = 10;
  so.timeout_signal = SIGTERM;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  run_until(loop, &rec.calls, 2);
  CHECK(rec.last.kind == UVREAP_SIGNALED);
  CHECK(rec.last.term_signal == SIGTERM);
  CHECK(rec.last.deadline_fired == 1);

  /* 64-bit times are taken whole or refused, never cut to 32 bits. */
  pid_t none = -1;
  so.timeout_ms = UINT64_MAX;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &none) == -EINVAL && none <= 0);
  so.timeout_ms = 10;
  so.kill_grace_ms = UINT64_MAX;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &none) == -EINVAL && none <= 0);
  so.kill_grace_ms = 2000;
  CHECK(rec.calls == 2);

  /* The counters: two children made, both delivered, one time limit fired. */
  uvreap_stats_t st;
  CHECK(uvreap_stats(r, &st) == 0);
  CHECK(st.exits_reaped == 2);
  CHECK(st.syscalls_spawn == 2);
  CHECK(st.deadlines_fired == 1);
  CHECK(st.lost == 0);
  CHECK(st.sweeps >= 1);
  CHECK(st.syscalls >= st.syscalls_spawn + st.syscalls_wait);
  CHECK(uvreap_stats(NULL, &st) == UV_EINVAL);
  CHECK(uvreap_stats(r, NULL) == UV_EINVAL);

  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

/* uv_spawn's stdio, as libuv's own containers: a pipe from the child's stdout read as a
 * stream, fd 3 inherited, /dev/null for stdin; the uid and gid we run as. */
typedef struct {
  char text[64];
  size_t len;
  int eof;
} output_t;

static void alloc_cb(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  output_t* out = h->data;
  (void)size;
  *buf = uv_buf_init(out->text + out->len, (unsigned)(sizeof out->text - 1 - out->len));
}

static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  output_t* out = s->data;
  (void)buf;
  if (n > 0) out->len += (size_t)n;
  if (n < 0) {
    out->eof = 1;
    uv_read_stop(s);
  }
}

static void test_stdio_containers(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  uv_pipe_t out_pipe;
  CHECK(uv_pipe_init(loop, &out_pipe, 0) == 0);
  output_t out = {{0}, 0, 0};
  out_pipe.data = &out;
  int fd3 = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(fd3 >= 0);
  uv_stdio_container_t io[4];
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t*)&out_pipe;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  io[3].flags = UV_INHERIT_FD;
  io[3].data.fd = fd3;
  char* args[] = {"/bin/sh", "-c", "[ -e /proc/self/fd/3 ] && echo piped", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  so.stdio = io;
  so.stdio_count = 4;
  so.flags |= UVREAP_SETUID | UVREAP_SETGID;
  so.uid = getuid();
  so.gid = getgid();
  record_t rec = {0};
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == 0);
  CHECK(uv_read_start((uv_stream_t*)&out_pipe, alloc_cb, read_cb) == 0);
  run_until(loop, &rec.calls, 1);
  run_until(loop, &out.eof, 1);
  CHECK(rec.last.exit_status == 0);
  CHECK(strcmp(out.text, "piped\n") == 0);
  close(fd3);
  uv_close((uv_handle_t*)&out_pipe, NULL);

  /* A script without "#!": ENOEXEC, or /bin/sh with UVREAP_SHELL_FALLBACK. */
  char script[] = "/tmp/uvreap-c-api-XXXXXX";
  int sfd = mkstemp(script);
  CHECK(sfd >= 0);
  CHECK(write(sfd, "exit 12\n", 8) == 8);
  close(sfd);
  CHECK(chmod(script, 0700) == 0);
  char* sargs[] = {script, NULL};
  uvreap_spawn_options_init(&so);
  so.args = sargs;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) ==
        -ENOEXEC); /* libuv 1.44 has no UV_ENOEXEC */
  so.flags |= UVREAP_SHELL_FALLBACK;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == 0);
  run_until(loop, &rec.calls, 2);
  CHECK(rec.last.exit_status == 12);
  unlink(script);

  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

static void test_bad_arguments(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(NULL, NULL, &r) == UV_EINVAL);
  CHECK(r == NULL);
  CHECK(uvreap_init(loop, NULL, NULL) == UV_EINVAL);
  uvreap_options_t o;
  uvreap_options_init(&o);
  o.policy = 42;
  CHECK(uvreap_init(loop, &o, &r) == UV_EINVAL);
  uvreap_options_init(&o);
  o.subreaper = 1; /* needs policy ALL */
  CHECK(uvreap_init(loop, &o, &r) == UV_EINVAL);

  CHECK(uvreap_init(loop, NULL, &r) == 0);
  record_t rec = {0};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EINVAL); /* no args */
  char* empty[] = {NULL};
  so.args = empty;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EINVAL);
  char* args[] = {"/nonexistent/uvreap-c-test", NULL};
  so.args = args;
  CHECK(uvreap_spawn(r, &so, NULL, &rec, NULL) == UV_EINVAL);       /* no callback */
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_ENOENT); /* exec failed */
  uv_stdio_container_t bad[2] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = -7}};
  so.stdio = bad;
  so.stdio_count = 2;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EBADF);
  so.stdio_count = -1;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EINVAL);
  so.stdio_count = 0;
  CHECK(uvreap_watch(r, 0, on_exit_cb, &rec) == UV_EINVAL);
  CHECK(uvreap_watch(r, 1, on_exit_cb, &rec) == UVREAP_ECHILD);
  CHECK(uvreap_watch(r, getpid(), NULL, &rec) == UV_EINVAL);
  CHECK(uvreap_kill(r, 0, SIGTERM) == UV_EINVAL);
  CHECK(uvreap_kill(r, 1, SIGTERM) == UV_ESRCH);
  CHECK(uvreap_kill(NULL, 1, SIGTERM) == UV_EINVAL);
  CHECK(strcmp(uvreap_strerror(UVREAP_ECHILD), strerror(ECHILD)) == 0);
  CHECK(strcmp(uvreap_strerror(UV_EINVAL), strerror(EINVAL)) == 0);
  /* Static strings for every int, libuv's own codes included: nothing allocated (a
   * leak under LeakSanitizer), nothing truncated, the same pointer each time. */
  CHECK(strcmp(uvreap_strerror(UV_EOF), "end of file") == 0);
  CHECK(uvreap_strerror(UV_EAI_NONAME) == uvreap_strerror(UV_EAI_NONAME));
  const int odd[] = {5, -4095 + 1000, -4096, -100000, INT_MIN, INT_MAX};
  for (size_t k = 0; k < sizeof odd / sizeof odd[0]; ++k) {
    const char* d = uvreap_strerror(odd[k]);
    CHECK(d != NULL && d == uvreap_strerror(odd[k]) && strlen(d) > 0);
  }
  CHECK(strlen(uvreap_version_string()) >= 5);
  CHECK(uvreap_loop(r) == loop);
  CHECK(uvreap_policy(r) == UVREAP_POLICY_OWN);
  uvreap_set_data(r, &rec);
  CHECK(uvreap_get_data(r) == &rec);
  CHECK(rec.calls == 0);

  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
  CHECK(uvreap_close(NULL, NULL) == UV_EINVAL);
}

static void test_close_with_children_alive(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  int gate[2];
  CHECK(pipe2(gate, O_CLOEXEC) == 0);
  char* args[] = {"/bin/sh", "-c", "read _", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  uv_stdio_container_t io[1] = {{.flags = UV_INHERIT_FD, .data.fd = gate[0]}};
  so.stdio = io;
  so.stdio_count = 1;
  record_t rec = {0};
  pid_t pids[3];
  for (int i = 0; i < 3; ++i)
    CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pids[i]) == 0);
  CHECK(uvreap_size(r) == 3);
  closed_calls = 0;
  CHECK(uvreap_close_ex(r, 1, 100, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
  CHECK(rec.calls == 0); /* no callback after close */
  for (int i = 0; i < 3; ++i) {
    errno = 0;
    CHECK(waitpid(pids[i], NULL, WNOHANG) == -1 && errno == ECHILD); /* reaped */
  }
  close(gate[0]);
  close(gate[1]);
}

/* Policy ALL: a child nobody watches (forked here, not through uvreap) reaches
 * on_orphan once, with its pid, its code and the orphan_data pointer. */
static record_t orphans;
static void on_orphan_cb(uvreap_t* r, const uvreap_exit_t* st, void* data) {
  (void)r;
  CHECK(data == &orphans);
  on_exit_cb(r, st, data);
}

static void test_orphans(uv_loop_t* loop) {
  uvreap_options_t o;
  uvreap_options_init(&o);
  o.policy = UVREAP_POLICY_ALL;
  o.on_orphan = on_orphan_cb;
  o.orphan_data = &orphans;
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, &o, &r) == 0);
  CHECK(uvreap_policy(r) == UVREAP_POLICY_ALL);
  const pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) _exit(42);
  run_until(loop, &orphans.calls, 1);
  CHECK(orphans.calls == 1);
  CHECK(orphans.last.pid == pid);
  CHECK(orphans.last.kind == UVREAP_EXITED);
  CHECK(orphans.last.exit_status == 42);
  errno = 0;
  CHECK(waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD); /* reaped */
  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
  CHECK(orphans.calls == 1);
}

/* uvreap_spawn_async: the outcome before the exit, an exec error delivered, refusals. */
typedef struct {
  int started;
  pid_t pid;
  int status;
  int exits;
  int order_ok; /* 1 while every exit came after its start */
  uvreap_exit_t last;
} async_record_t;

static void on_async_started(uvreap_t* r, pid_t pid, int status, void* data) {
  async_record_t* a = data;
  (void)r;
  a->started++;
  a->pid = pid;
  a->status = status;
}

static void on_async_exit(uvreap_t* r, const uvreap_exit_t* st, void* data) {
  async_record_t* a = data;
  (void)r;
  if (a->started == 0) a->order_ok = 0;
  a->exits++;
  a->last = *st;
}

static void test_spawn_async(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  char* args[] = {"/bin/sh", "-c", "exit 4", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  async_record_t a = {0, 0, 1, 0, 1, {0}};
  CHECK(uvreap_spawn_async(r, &so, on_async_started, on_async_exit, &a) == 0);
  CHECK(a.started == 0);
  run_until(loop, &a.exits, 1);
  CHECK(a.started == 1 && a.status == 0 && a.pid > 0);
  CHECK(a.order_ok == 1);
  CHECK(a.last.pid == a.pid && a.last.kind == UVREAP_EXITED && a.last.exit_status == 4);

  char* missing[] = {"/nonexistent/program", NULL};
  so.args = missing;
  async_record_t b = {0, 0, 1, 0, 1, {0}};
  CHECK(uvreap_spawn_async(r, &so, on_async_started, on_async_exit, &b) == 0);
  run_until(loop, &b.started, 1);
  CHECK(b.status == UV_ENOENT && b.pid == -1 && b.exits == 0);

  CHECK(uvreap_spawn_async(r, &so, NULL, on_async_exit, &b) == UV_EINVAL);
  CHECK(uvreap_spawn_async(r, &so, on_async_started, NULL, &b) == UV_EINVAL);
  CHECK(uvreap_spawn_async(NULL, &so, on_async_started, on_async_exit, &b) == UV_EINVAL);
  so.args = NULL;
  CHECK(uvreap_spawn_async(r, &so, on_async_started, on_async_exit, &b) == UV_EINVAL);
  CHECK(b.started == 1 && b.exits == 0);

  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

/* Trees: UVREAP_TREE_* flags, uvreap_kill_tree, the exit record's tree fields, and
 * uvreap_cgroup_status. The cgroup part needs a writable cgroup v2 (root here). */
static void test_trees(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  char why[512];
  const int cg = uvreap_cgroup_status(r, why, sizeof why);
  if (cg != 0) printf("SKIP: c_api cgroup trees: %s\n", why);

  char* forks[] = {"/bin/sh", "-c", "sleep 60 & exit 3", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = forks;
  so.flags |= UVREAP_TREE_AUTO;
  record_t rec = {0};
  pid_t pid = 0;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  run_until(loop, &rec.calls, 1);
  CHECK(rec.last.pid == pid && rec.last.exit_status == 3);
  if (cg == 0) {
    CHECK(rec.last.tree == UVREAP_TREE_IN_CGROUP);
    CHECK(rec.last.descendants_at_exit == 1);
    CHECK(rec.last.tree_cpu_usec >= 0);
  } else {
    CHECK(rec.last.tree == UVREAP_TREE_IN_PROCESS_GROUP);
    CHECK(rec.last.descendants_at_exit == -1);
  }

  /* kill_tree on a group, and on a cgroup where there is one. */
  char* sleeper[] = {"/bin/sh", "-c", "sleep 60 & exec sleep 60", NULL};
  so.args = sleeper;
  so.flags = UVREAP_SEARCH_PATH | UVREAP_TREE_PROCESS_GROUP;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  CHECK(uvreap_kill_tree(r, pid, SIGKILL) == 0);
  run_until(loop, &rec.calls, 2);
  CHECK(rec.last.kind == UVREAP_SIGNALED && rec.last.term_signal == SIGKILL);
  CHECK(rec.last.tree == UVREAP_TREE_IN_PROCESS_GROUP);
  if (cg == 0) {
    so.flags = UVREAP_SEARCH_PATH | UVREAP_TREE_CGROUP;
    CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
    CHECK(uvreap_kill_tree(r, pid, SIGKILL) == 0);
    run_until(loop, &rec.calls, 3);
    CHECK(rec.last.term_signal == SIGKILL && rec.last.tree == UVREAP_TREE_IN_CGROUP);
  }
  CHECK(uvreap_kill_tree(r, pid, SIGKILL) == UV_ESRCH);

  /* Errors: two tree flags, a child without a tree, a bad reaper or signal. */
  so.flags = UVREAP_SEARCH_PATH | UVREAP_TREE_CGROUP | UVREAP_TREE_PROCESS_GROUP;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == UV_EINVAL);
  so.flags = UVREAP_SEARCH_PATH;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  CHECK(uvreap_kill_tree(r, pid, SIGKILL) == UV_EINVAL);
  CHECK(uvreap_kill(r, pid, SIGKILL) == 0);
  CHECK(uvreap_kill_tree(NULL, pid, SIGKILL) == UV_EINVAL);
  CHECK(uvreap_cgroup_status(NULL, why, sizeof why) == UV_EINVAL);
  CHECK(uvreap_cgroup_status(r, NULL, 5) == UV_EINVAL);
  run_until(loop, &rec.calls, cg == 0 ? 4 : 3);
  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);

  /* A parent that does not exist: the reason names it. */
  uvreap_options_t o;
  uvreap_options_init(&o);
  o.cgroup_parent = "/nonexistent-uvreap-c";
  CHECK(uvreap_init(loop, &o, &r) == 0);
  CHECK(uvreap_cgroup_status(r, why, sizeof why) == UV_ENOENT);
  CHECK(strstr(why, "/nonexistent-uvreap-c") != NULL);
  so.flags = UVREAP_SEARCH_PATH | UVREAP_TREE_CGROUP;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == UV_ENOENT);
  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

typedef struct {
  int calls;
  int code;
  char out[64];
  size_t out_len;
  int out_truncated;
  int input_error;
  int tree;
} run_record_t;

static void on_run(uvreap_t* r, const uvreap_run_result_t* res, void* data) {
  run_record_t* rec = data;
  (void)r;
  rec->calls++;
  rec->code = res->status.exit_status;
  rec->out_len = res->out_len < sizeof rec->out ? res->out_len : sizeof rec->out;
  memcpy(rec->out, res->out, rec->out_len);
  rec->out_truncated = res->out_truncated;
  rec->input_error = res->input_error;
  rec->tree = res->status.tree;
}

/* uvreap_run: input in, output kept up to a limit, the tree contained. */
static void test_run(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  char* cat[] = {"/bin/sh", "-c", "cat; exit 5", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = cat;
  uvreap_run_options_t how;
  uvreap_run_options_init(&how);
  CHECK(how.max_output == 1u << 20 && how.drain_after_exit_ms == 500);
  how.input = "hello, tree";
  how.input_len = strlen(how.input);
  how.max_output = 5;
  run_record_t rec = {0};
  pid_t pid = 0;
  CHECK(uvreap_run(r, &so, &how, on_run, &rec, &pid) == 0);
  CHECK(pid > 0);
  run_until(loop, &rec.calls, 1);
  CHECK(rec.code == 5);
  CHECK(rec.out_len == 5 && memcmp(rec.out, "hello", 5) == 0);
  CHECK(rec.out_truncated == 1);
  CHECK(rec.input_error == 0);
  CHECK(rec.tree != UVREAP_TREE_NONE);

  /* Defaults with NULL, and the errors. */
  char* echo[] = {"/bin/sh", "-c", "echo hi", NULL};
  so.args = echo;
  CHECK(uvreap_run(r, &so, NULL, on_run, &rec, NULL) == 0);
  run_until(loop, &rec.calls, 2);
  CHECK(rec.out_len == 3 && memcmp(rec.out, "hi\n", 3) == 0);
  CHECK(uvreap_run(r, &so, NULL, NULL, &rec, NULL) == UV_EINVAL);
  CHECK(uvreap_run(NULL, &so, NULL, on_run, &rec, NULL) == UV_EINVAL);
  how.input = NULL;
  how.input_len = 3;
  CHECK(uvreap_run(r, &so, &how, on_run, &rec, NULL) == UV_EINVAL);
  uvreap_run_options_init(&how);
  how.drain_after_exit_ms = UINT64_MAX;
  CHECK(uvreap_run(r, &so, &how, on_run, &rec, NULL) == UV_EINVAL);
  char* missing[] = {"/nonexistent/program", NULL};
  so.args = missing;
  CHECK(uvreap_run(r, &so, NULL, on_run, &rec, NULL) == UV_ENOENT);
  CHECK(rec.calls == 2);
  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

/* A child on a terminal of its own: its size, a resize, the stream's end (UV_EIO). */
static int winch_state;
static void terminal_read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  output_t* out = s->data;
  (void)buf;
  if (n > 0) out->len += (size_t)n;
  if (n < 0) {
    out->eof = n == UV_EIO ? 1 : -1;
    uv_read_stop(s);
  }
  if (strstr(out->text, "ready") != NULL && winch_state == 0) winch_state = 1;
}

static void test_terminal(uv_loop_t* loop) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  uv_pipe_t master;
  CHECK(uv_pipe_init(loop, &master, 0) == 0);
  output_t out = {{0}, 0, 0};
  master.data = &out;
  uvreap_terminal_t term = {90, 33, &master, NULL};
  /* Prints its size, then again once SIGWINCH has come. */
  char* args[] = {"/bin/bash", "-c",
                  "trap 'stty size; exit 3' WINCH; stty size; echo ready; while :; do sleep 0.05; done",
                  NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  so.terminal = &term;
  record_t rec = {0};
  pid_t pid = 0;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  CHECK(uv_read_start((uv_stream_t*)&master, alloc_cb, terminal_read_cb) == 0);
  run_until(loop, &winch_state, 1);
  CHECK(uvreap_resize(r, pid, 100, 40) == 0);
  run_until(loop, &rec.calls, 1);
  run_until(loop, &out.eof, 1);
  CHECK(out.eof == 1); /* UV_EIO: the end */
  CHECK(rec.last.exit_status == 3);
  CHECK(strstr(out.text, "33 90\r\nready\r\n40 100\r\n") != NULL);

  /* Bad sizes, a child without a terminal, a pid not ours. */
  CHECK(uvreap_resize(r, pid, 80, 24) == UV_ESRCH);
  term.cols = 0;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EINVAL);
  term.cols = 80;
  so.terminal = NULL;
  char* sleep_args[] = {"sleep", "100", NULL};
  so.args = sleep_args;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, &pid) == 0);
  CHECK(uvreap_resize(r, pid, 80, 24) == UV_ENOTTY);
  CHECK(uvreap_resize(r, pid, 0, 24) == UV_EINVAL);
  CHECK(uvreap_resize(NULL, pid, 80, 24) == UV_EINVAL);
  uv_close((uv_handle_t*)&master, NULL);
  closed_calls = 0;
  CHECK(uvreap_close_ex(r, 1, 100, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

/* A sandboxed child: it reads what the rules allow and cannot write outside them. */
static void test_sandbox(uv_loop_t* loop, long abi) {
  uvreap_t* r = NULL;
  CHECK(uvreap_init(loop, NULL, &r) == 0);
  char dir[] = "/tmp/uvreap-c-sandbox-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char script[256];
  snprintf(script, sizeof script, "read x </etc/hostname && : >%s/f", dir);
  char* args[] = {"/bin/sh", "-c", script, NULL};
  const char* read[] = {"/usr", "/lib", "/etc", NULL};
  uvreap_sandbox_t sb = {read, NULL, UVREAP_SANDBOX_SECCOMP | UVREAP_SANDBOX_NO_NETWORK, NULL, 0};
  uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  so.stdio = io;
  so.stdio_count = 3;
  so.sandbox = &sb;
  record_t rec = {0};
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == 0);
  run_until(loop, &rec.calls, 1);
  CHECK(rec.last.kind == UVREAP_EXITED && rec.last.exit_status != 0); /* the write refused */
  CHECK((rec.last.sandbox & UVREAP_SANDBOX_APPLIED_FILES) != 0);
  CHECK((rec.last.sandbox & UVREAP_SANDBOX_APPLIED_SECCOMP) != 0);
  CHECK((rec.last.sandbox & UVREAP_SANDBOX_APPLIED_NETWORK) != 0 || abi < 4);
  CHECK(rec.last.landlock_abi == (int)abi);
  char f[300];
  snprintf(f, sizeof f, "%s/f", dir);
  CHECK(access(f, F_OK) != 0);

  /* The directory writable: the same script succeeds. */
  const char* write[] = {dir, NULL};
  sb.write = write;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == 0);
  run_until(loop, &rec.calls, 2);
  CHECK(rec.last.kind == UVREAP_EXITED && rec.last.exit_status == 0);
  CHECK(access(f, F_OK) == 0);
  unlink(f);
  rmdir(dir);

  /* Errors: a path that does not exist, a bad count. No sandbox: `sandbox` is 0. */
  const char* missing[] = {"/nonexistent/uvreap", NULL};
  sb.read = missing;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_ENOENT);
  sb.read = read;
  sb.deny_count = -1;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EINVAL);
  so.sandbox = NULL;
  char* true_args[] = {"true", NULL};
  so.args = true_args;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == 0);
  run_until(loop, &rec.calls, 3);
  CHECK(rec.last.sandbox == 0);
  closed_calls = 0;
  CHECK(uvreap_close(r, on_closed) == 0);
  run_until(loop, &closed_calls, 1);
}

int main(void) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 2;
  test_spawn_and_exit(&loop);
  test_spawn_async(&loop);
  test_stdio_containers(&loop);
  test_bad_arguments(&loop);
  test_close_with_children_alive(&loop);
  test_orphans(&loop);
  test_trees(&loop);
  test_run(&loop);
  test_terminal(&loop);
  const long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U);
  if (abi >= 3) {
    test_sandbox(&loop, abi);
  } else {
    printf("SKIP: test_sandbox needs Landlock ABI 3 (this kernel has %ld)\n", abi < 0 ? 0 : abi);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  if (failures == 0) printf("c_api: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
