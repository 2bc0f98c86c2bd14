# SPDX-License-Identifier: MIT
"""uvreap tests: what every Python test driver shares.

A check prints one line, `ok` or `FAIL`, and records a failure. A skip prints a line that
starts with `skip`, which the test command counts; `skip_all` ends the run with meson's
skip status (77). `finish` prints the tally and exits 1 when any check failed.
"""
import sys

failures = []
prefix = ""  # put before every line, e.g. "[tini] "


def check(cond, what, quiet=False):
    """Records `what` as failed unless `cond`; prints it (only when failed if `quiet`)."""
    if not quiet or not cond:
        print(("ok   " if cond else "FAIL ") + prefix + what, flush=True)
    if not cond:
        failures.append(what)
    return bool(cond)


def skip(what):
    """Says that a part of the run did not run, and why."""
    print("skip " + prefix + what, flush=True)


def skip_all(what):
    """Nothing here can run: the whole test is skipped (meson counts it; the line is in
    capitals so that the test command does not count it again as a partial skip)."""
    print("SKIP " + what, flush=True)
    sys.exit(77)


def finish(summary=None):
    print(summary if summary is not None else f"{len(failures)} failures", flush=True)
    sys.exit(1 if failures else 0)
