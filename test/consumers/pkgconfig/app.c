/* SPDX-License-Identifier: MIT */
/* A C program built against an installed uvreap found with pkg-config. */
#include <stdio.h>
#include <uvreap/uvreap.h>

static int code = -1;
static void on_exit_cb(uvreap_t* r, const uvreap_exit_t* st, void* data) {
  (void)r;
  (void)data;
  code = st->kind == UVREAP_EXITED ? st->exit_status : -1;
}

int main(void) {
  uv_loop_t* loop = uv_default_loop();
  uvreap_t* r = NULL;
  if (uvreap_init(loop, NULL, &r) != 0) return 10;
  char* args[] = {"/bin/sh", "-c", "exit 42", NULL};
  uvreap_spawn_options_t so;
  uvreap_spawn_options_init(&so);
  so.args = args;
  int err = uvreap_spawn(r, &so, on_exit_cb, NULL, NULL);
  if (err != 0) {
    fprintf(stderr, "spawn: %s\n", uvreap_strerror(err));
    return 11;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uvreap_close(r, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  printf("pkg-config consumer (C, uvreap %s): child exited with %d\n", uvreap_version_string(), code);
  return code == 42 ? 0 : 1;
}
