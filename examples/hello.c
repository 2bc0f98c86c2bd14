/* SPDX-License-Identifier: MIT */
/* uvreap example in C: run one command with a time limit and print how it ended. */
#define _POSIX_C_SOURCE 200809L /* uv.h needs POSIX declarations under strict C11 */
#include <stdio.h>
#include <stdlib.h>
#include <uvreap/uvreap.h>

/* Named on_child_exit: glibc's <stdlib.h> declares an on_exit(3) of its own. */
static void on_child_exit(uvreap_t* r, const uvreap_exit_t* st, void* data) {
  (void)r;
  *(int*)data = st->kind == UVREAP_EXITED ? st->exit_status : 128 + st->term_signal;
  printf("pid %d: %s %d\n", (int)st->pid, st->kind == UVREAP_EXITED ? "exited" : "signal",
         st->kind == UVREAP_EXITED ? st->exit_status : st->term_signal);
}

int main(void) {
  uv_loop_t* loop = uv_default_loop();
  int my_data = -1;
  pid_t pid;

  uvreap_t* r;
  int err = uvreap_init(loop, NULL, &r); /* NULL: default options, policy own */
  if (err < 0) return fprintf(stderr, "%s\n", uvreap_strerror(err)), 1;
  char* args[] = {"/bin/sh", "-c", "exit 3", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  so.timeout_ms = 5000; /* SIGTERM after 5 s, SIGKILL 2 s later */
  err = uvreap_spawn(r, &so, on_child_exit, &my_data, &pid); /* called back once */
  if (err < 0) return fprintf(stderr, "spawn: %s\n", uvreap_strerror(err)), 1;
  uv_run(loop, UV_RUN_DEFAULT);
  uvreap_close(r, NULL); /* kills and reaps what is left, frees r */

  uv_run(loop, UV_RUN_DEFAULT); /* lets libuv release the reaper's handles */
  return uv_loop_close(loop) == 0 && my_data == 3 ? EXIT_SUCCESS : EXIT_FAILURE;
}
