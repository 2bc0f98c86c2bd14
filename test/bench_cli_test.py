#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uvreap-bench's command line: --help, unknown and malformed flags, an output path that
cannot be written (refused before any storm runs), and --json - (only JSON on stdout).
Usage: bench_cli_test.py path/to/uvreap-bench path/to/uvreap-bench-child"""
import json
import resource
import subprocess
import sys
import tempfile
import time

from checks import check, finish, skip

BENCH, CHILD = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([BENCH, "--child-exe", CHILD, *args], capture_output=True,
                          text=True, timeout=300)


r = run("--help")
check(r.returncode == 0 and r.stdout.startswith("usage: uvreap-bench") and not r.stderr,
      "--help: usage on stdout, exit 0")
r = run("--nosuch")
check(r.returncode == 2 and "unknown option --nosuch" in r.stderr, "an unknown flag is named")
r = run("--children")
check(r.returncode == 2 and "missing value after --children" in r.stderr,
      "a flag without its value is named")
for flag, value in [("--children", "-5"), ("--children", "0"), ("--repeat", "x"),
                    ("--background", "99999999999999999999"), ("--deadline", "+3"),
                    ("--background", "0,x"), ("--open-fds", "10,-1"), ("--open-fds", "")]:
    r = run(flag, value)
    check(r.returncode == 2 and flag in r.stderr and "takes a whole number" in r.stderr,
          f"{flag} {value}: refused, exit 2, flag named")

with tempfile.TemporaryDirectory() as d:
    # Refused at once: no storm runs, so no table is printed.
    r = run("--json", f"{d}/missing/x.json")
    check(r.returncode == 2 and "cannot write" in r.stderr and "strategy" not in r.stdout,
          "--json into a missing folder is refused before the run")
    r = run("--plot", f"{d}/missing/x.png")
    check(r.returncode == 2 and "cannot write" in r.stderr, "so is --plot")

r = run("--children", "50", "--repeat", "1", "--strategies", "own,uv_spawn", "--json", "-")
try:
    doc = json.loads(r.stdout)
    only_json = True
except ValueError:
    doc, only_json = {}, False
check(r.returncode == 0 and only_json, "--json -: stdout is one JSON document")
check(len(doc.get("results", [])) == 2, "--json -: both strategies' results in it")
check("strategy" in r.stderr and "columns:" in r.stderr, "--json -: the table goes to stderr")

# Lists: each value a run of its own, named in the row and the JSON.
r = run("--pattern", "stream", "--children", "30", "--repeat", "1", "--strategies", "own",
        "--open-fds", "0,100", "--json", "-")
try:
    doc = json.loads(r.stdout)
except ValueError:
    doc = {}
rows = sorted((x.get("strategy"), x.get("open_fds")) for x in doc.get("results", []))
check(r.returncode == 0 and rows == [("own fds=0", 0), ("own fds=100", 100)],
      f"--open-fds 0,100: two runs, named and counted ({rows})")
check(all(x.get("lost") == 0 and x.get("children_cpu_us_per_child", -1) >= 0
          for x in doc.get("results", [])), "--open-fds runs: nothing lost, children's CPU given")

# Every output target checked: a full device fails the run (after it), a missing gnuplot
# before it.
import os
import shutil
r = run("--pattern", "burst", "--children", "10", "--repeat", "1", "--strategies", "own",
        "--json", "/dev/full")
check(r.returncode != 0 and "/dev/full" in r.stderr, f"--json /dev/full: exit {r.returncode}, said")
if shutil.which("gnuplot") is None:
    start = time.monotonic()
    r = run("--children", "100000", "--plot", "/tmp/uvreap-bench-never.png")
    check(r.returncode == 2 and "gnuplot" in r.stderr and time.monotonic() - start < 60,
          "--plot without gnuplot: refused before any storm, exit 2")
else:
    skip("--plot without gnuplot: gnuplot is installed")
    r = run("--pattern", "burst", "--children", "10", "--repeat", "1", "--strategies", "own",
            "--plot", "/dev/full")
    check(r.returncode != 0, f"--plot /dev/full: exit {r.returncode}")
with open("/dev/full", "w") as full:
    r = subprocess.run([BENCH, "--child-exe", CHILD, "--pattern", "burst", "--children", "10",
                        "--repeat", "1", "--strategies", "own"], stdout=full,
                       stderr=subprocess.PIPE, text=True, timeout=300)
check(r.returncode != 0 and "cannot write" in r.stderr, f"the table to /dev/full: exit {r.returncode}")

# A spawn that fails (EAGAIN under RLIMIT_NPROC, as nobody: root is exempt) ends the floor's
# run with an error instead of hanging, well within --deadline.
if os.geteuid() == 0:
    def as_nobody_with_few_processes():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        resource.setrlimit(resource.RLIMIT_NPROC, (20, 20))
    for strategy in ("floor", "own"):
        try:
            r = subprocess.run([BENCH, "--child-exe", CHILD, "--pattern", "burst", "--children",
                                "200", "--repeat", "1", "--strategies", strategy, "--deadline",
                                "60"], capture_output=True, text=True, timeout=120,
                               preexec_fn=as_nobody_with_few_processes)
            check(r.returncode == 1 and "Resource temporarily unavailable" in r.stderr,
                  f"{strategy}: a failing spawn ends the run, exit {r.returncode} ({r.stderr.strip()[-80:]!r})")
        except subprocess.TimeoutExpired:
            check(False, f"{strategy}: a failing spawn hangs the run")
else:
    skip("the RLIMIT_NPROC run: needs root to become nobody")

finish()
