/* SPDX-License-Identifier: MIT */
/* uvreap tests: the C API, compiled as C11. Exit code 0 when every check passed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "uvreap/uvreap.h"

static int failures;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

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

/* Runs the loop until *counter reaches want, or 60 s pass (then the check fails). */
static void run_until(uv_loop_t* loop, const int* counter, int want) {
  uint64_t end = uv_now(loop) + 60000;
  while (*counter < want && uv_now(loop) < end) {
    uv_run(loop, UV_RUN_ONCE);
    uv_update_time(loop);
  }
  CHECK(*counter >= want);
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
  so.stdio[1] = -7;
  CHECK(uvreap_spawn(r, &so, on_exit_cb, &rec, NULL) == UV_EBADF);
  CHECK(uvreap_watch(r, 0, on_exit_cb, &rec) == UV_EINVAL);
  CHECK(uvreap_watch(r, 1, on_exit_cb, &rec) == UVREAP_ECHILD);
  CHECK(uvreap_watch(r, getpid(), NULL, &rec) == UV_EINVAL);
  CHECK(uvreap_kill(r, 0, SIGTERM) == UV_EINVAL);
  CHECK(uvreap_kill(r, 1, SIGTERM) == UV_ESRCH);
  CHECK(uvreap_kill(NULL, 1, SIGTERM) == UV_EINVAL);
  CHECK(strcmp(uvreap_strerror(UVREAP_ECHILD), strerror(ECHILD)) == 0);
  CHECK(strcmp(uvreap_strerror(UV_EINVAL), strerror(EINVAL)) == 0);
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
  so.stdio[0] = gate[0];
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

int main(void) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 2;
  test_spawn_and_exit(&loop);
  test_bad_arguments(&loop);
  test_close_with_children_alive(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  if (failures == 0) printf("c_api: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
