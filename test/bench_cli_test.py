#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uvreap-bench's command line: --help, unknown and malformed flags, an output path that
cannot be written (refused before any storm runs), and --json - (only JSON on stdout).
Usage: bench_cli_test.py path/to/uvreap-bench path/to/uvreap-bench-child"""
import json
import subprocess
import sys
import tempfile

BENCH, CHILD = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


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

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
