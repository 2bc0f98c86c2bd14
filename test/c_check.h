/* SPDX-License-Identifier: MIT */
/* uvreap tests: the check of the test programs written in C. A failed check prints where
 * and what, and counts; the program exits 1 when `failures` is not 0. */
#pragma once

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)
