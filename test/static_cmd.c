// SPDX-License-Identifier: MIT
// A statically linked command for the static uvreap-init test: it runs in an empty chroot
// where nothing else exists. It prints its parent's pid, then ends as asked.
//   static_cmd exit CODE      exits with CODE
//   static_cmd signal SIG     kills itself with SIG
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fputs("usage: static_cmd exit CODE | signal SIG\n", stderr);
    return 2;
  }
  printf("ppid %d\n", (int)getppid());
  fflush(stdout);
  const int n = atoi(argv[2]);
  if (strcmp(argv[1], "signal") == 0) {
    signal(n, SIG_DFL);
    raise(n);
    return 3;  // the signal did not end it
  }
  return n;
}
