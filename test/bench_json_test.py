#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# uvreap tests: runs uvreap-bench on a tiny storm and checks its JSON report.
#   bench_json_test.py BENCH CHILD_EXE [extra bench args...]
import json
import os
import subprocess
import sys
import tempfile

import checks


def check(cond, what):
    checks.check(cond, what, quiet=True)

bench, child = sys.argv[1], sys.argv[2]
extra = sys.argv[3:]
strategies = ["own", "all", "pidfd", "uv_spawn", "floor"]


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "bench.json")
    cmd = [bench, "--children", "200", "--repeat", "2", "--strategies", ",".join(strategies),
           "--child-exe", child, "--json", out] + extra
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    check(proc.returncode == 0, f"exit status {proc.returncode}")
    check("FAIL" not in proc.stdout, "a FAIL line in the table")
    with open(out) as f:
        doc = json.load(f)

for key in ("kernel", "libuv", "uvreap", "cores"):
    check(key in doc["machine"], f"machine.{key} missing")
check(doc["config"]["children"] == 200, "config.children")
results = doc["results"]
check(len(results) == 2 * len(strategies), f"{len(results)} results, want {2 * len(strategies)}")
for s in strategies:
    runs = [r for r in results if r["strategy"] == s]
    check(sorted(r["repeat"] for r in runs) == [0, 1], f"{s}: repeats {[r['repeat'] for r in runs]}")
# Interleaved: A B C D A B C D.
check([r["strategy"] for r in results] == strategies * 2, "repetitions are not interleaved")
for r in results:
    name = f"{r['strategy']} repeat {r['repeat']}"
    check(r["lost"] == 0, f"{name}: lost {r['lost']}")
    check(r["duplicated"] == 0, f"{name}: duplicated {r['duplicated']}")
    check(r["wrong"] == 0, f"{name}: wrong {r['wrong']}")
    check(r["samples"] == 200, f"{name}: {r['samples']} latency samples")
    lat = r["latency_us"]
    order = [lat[k] for k in ("p50", "p90", "p99", "p999", "max")]
    check(all(v is not None and v >= 0 for v in order), f"{name}: latency {lat}")
    check(order == sorted(order), f"{name}: percentiles out of order {lat}")
    check(r["children_per_s"] > 0, f"{name}: children_per_s {r['children_per_s']}")
    check(r["cpu_us_per_child"] >= 0, f"{name}: cpu_us_per_child")
    # Every strategy reaps each child with at least one wait; for uv_spawn the figure is
    # libuv's waitpid calls, counted by the harness.
    check(r["syscalls_per_exit"] is not None and r["syscalls_per_exit"] >= 1,
          f"{name}: syscalls_per_exit {r['syscalls_per_exit']}")
    if r["strategy"] == "uv_spawn":
        check(r["sweeps_per_exit"] is None, f"{name}: uv_spawn has no sweep count")

checks.finish(f"bench json: {len(results)} results checked, {len(checks.failures)} problems")
