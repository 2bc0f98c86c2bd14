/* SPDX-License-Identifier: MIT */
/* uvreap tests: a reaper through the common libuv shutdown, uv_walk closing every handle
 * it is shown, from C, under every policy. Exit code 0 when every check passed.
 *
 * The reaper must come through it: close still ends with its callback, its children are
 * handled as the close says, and the loop closes. Nothing may be closed twice or touched
 * after it is freed; libuv's own accesses are not instrumented by AddressSanitizer, so
 * meson also runs this program under valgrind. Children are forked (valgrind runs no
 * clone-based spawn) and watched. Each case has a loop of its own, driven by plain
 * uv_run(UV_RUN_DEFAULT) as such a shutdown does; a hang is ended by the alarm. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "c_check.h"
#include "uvreap/uvreap.h"

static int exit_calls;
static void on_exit_cb(uvreap_t* r, const uvreap_exit_t* st, void* data) {
  (void)r;
  (void)st;
  (void)data;
  exit_calls++;
}

static int closed_calls;
static void on_closed(uvreap_t* r) {
  (void)r;
  closed_calls++;
}

static void close_all(uv_handle_t* h, void* arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* A child blocked reading `fd` until the test closes the pipe; with `ignore_term` it
 * survives SIGTERM (the disposition is set before the fork, so no SIGTERM can come
 * first). */
static pid_t fork_waiter(int fd, int ignore_term) {
  struct sigaction ign = {.sa_handler = SIG_IGN}, old;
  if (ignore_term) CHECK(sigaction(SIGTERM, &ign, &old) == 0);
  const pid_t pid = fork();
  if (pid == 0) {
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  CHECK(pid > 0);
  if (ignore_term) CHECK(sigaction(SIGTERM, &old, NULL) == 0);
  return pid;
}

static int reaped_by_someone(pid_t pid) {
  errno = 0;
  return waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD;
}

enum walk_case {
  WALK_THEN_KILL,        /* walk, run, then a terminating close */
  WALK_THEN_KILL_NO_RUN, /* walk, then at once a terminating close */
  WALK_THEN_LEAVE,       /* walk, run, then a close that leaves children running */
  WALK_THEN_LEAVE_NO_RUN,
  KILL_THEN_WALK,      /* a terminating close in its grace when the walk comes */
  KILL_THEN_WALK_LOOP, /* the same, walk + run repeated until uv_loop_close succeeds */
  LEAVE_THEN_WALK,     /* a close that leaves children running, then the walk */
  WALK_CASES
};

static void test_walk_case(int policy, enum walk_case c) {
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  uvreap_options_t o;
  uvreap_options_init(&o);
  o.policy = policy;
  uvreap_t* r = NULL;
  CHECK(uvreap_init(&loop, &o, &r) == 0);
  int gate[2];
  CHECK(pipe2(gate, O_CLOEXEC) == 0);
  /* The stubborn child makes a terminating close wait for its SIGKILL. */
  const pid_t pids[2] = {fork_waiter(gate[0], 0), fork_waiter(gate[0], 1)};
  for (int i = 0; i < 2; ++i)
    CHECK(uvreap_watch(r, pids[i], on_exit_cb, NULL) == 0);
  CHECK(uvreap_size(r) == 2);
  uv_run(&loop, UV_RUN_NOWAIT);
  exit_calls = 0;
  closed_calls = 0;
  const int kill_children =
      c != WALK_THEN_LEAVE && c != WALK_THEN_LEAVE_NO_RUN && c != LEAVE_THEN_WALK;
  if (c == KILL_THEN_WALK || c == KILL_THEN_WALK_LOOP || c == LEAVE_THEN_WALK) {
    CHECK(uvreap_close_ex(r, kill_children, 300, on_closed) == 0);
    uv_walk(&loop, close_all, NULL);
  } else {
    uv_walk(&loop, close_all, NULL);
    if (c != WALK_THEN_KILL_NO_RUN && c != WALK_THEN_LEAVE_NO_RUN)
      CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uvreap_close_ex(r, kill_children, 300, on_closed) == 0);
  }
  CHECK(closed_calls == 0); /* never from inside close */
  if (c == KILL_THEN_WALK_LOOP) {
    int rc = UV_EBUSY;
    for (int i = 0; i < 1000 && rc == UV_EBUSY; ++i) {
      uv_walk(&loop, close_all, NULL);
      uv_run(&loop, UV_RUN_DEFAULT);
      rc = uv_loop_close(&loop);
    }
    CHECK(rc == 0);
  } else {
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
  if (closed_calls != 1)
    fprintf(stderr, "case %d, policy %d: %d close callbacks\n", (int)c, policy, closed_calls);
  CHECK(closed_calls == 1);
  CHECK(exit_calls == 0); /* no exit callback after close */
  for (int i = 0; i < 2; ++i) {
    if (kill_children) {
      CHECK(reaped_by_someone(pids[i]));
    } else {
      /* Left running and no longer the reaper's: alive, and ours to reap. */
      CHECK(waitpid(pids[i], NULL, WNOHANG) == 0);
      CHECK(kill(pids[i], SIGKILL) == 0);
      CHECK(waitpid(pids[i], NULL, 0) == pids[i]);
    }
  }
  close(gate[0]);
  close(gate[1]);
}

int main(void) {
  alarm(600);
  const int policies[] = {UVREAP_POLICY_OWN, UVREAP_POLICY_PIDFD, UVREAP_POLICY_ALL};
  for (int p = 0; p < 3; ++p)
    for (int c = 0; c < WALK_CASES; ++c)
      test_walk_case(policies[p], (enum walk_case)c);
  if (failures == 0) printf("walk: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
