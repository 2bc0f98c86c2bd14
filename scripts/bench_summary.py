#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Summarises uvreap-bench --json files into one Markdown table: per storm (pattern,
# background K, extra open fds), per strategy, the median over repetitions of parent CPU us per child,
# reaping syscalls per exit, and latency p50.
#
#   scripts/bench_summary.py burst-k0.json burst-k1000.json ...
import json
import statistics
import sys

ORDER = ["own", "all", "pidfd", "uv_spawn", "floor"]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits):
    return "–" if v is None else f"{v:.{digits}f}"


rows = []  # (pattern, K, open fds, {strategy: [results]}) in the order first seen
strategies = []
for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    for r in doc["results"]:
        # A run with --background or --open-fds lists has one row per value.
        key = (r["pattern"], r.get("background", 0), r.get("open_fds", 0))
        row = next((x for x in rows if x[:3] == key), None)
        if row is None:
            row = (*key, {})
            rows.append(row)
        name = r["strategy"].split(" ")[0]  # "own K=1000" in a run with a list: "own"
        row[3].setdefault(name, []).append(r)
        if name not in strategies:
            strategies.append(name)
strategies.sort(key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
with_fds = any(fds for _, _, fds, _ in rows)
print("| storm | K | " + ("fds | " if with_fds else "") + " | ".join(strategies) + " |")
print("|---|---:|" + ("---:|" if with_fds else "") + "---:|" * len(strategies))
for pattern, k, fds, by in rows:
    cells = []
    for s in strategies:
        runs = by.get(s, [])
        cpu = med([r["cpu_us_per_child"] for r in runs])
        sc = med([r["syscalls_per_exit"] for r in runs])
        p50 = med([r["latency_us"]["p50"] for r in runs])
        cells.append(f"{fmt(cpu, 1)} µs · {fmt(sc, 2)} sc · p50 {fmt(p50 / 1000 if p50 else None, 2)} ms")
    print(f"| {pattern} | {k:,} | " + (f"{fds:,} | " if with_fds else "") + " | ".join(cells) + " |")
