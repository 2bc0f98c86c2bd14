#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Summarises uvreap-bench --json files into one Markdown table: per storm (pattern,
# background K), per strategy, the median over repetitions of parent CPU us per child,
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


rows = []
strategies = []
for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    cfg = doc["config"]
    by = {}
    for r in doc["results"]:
        by.setdefault(r["strategy"], []).append(r)
    for s in by:
        if s not in strategies:
            strategies.append(s)
    rows.append((cfg["pattern"], cfg["background"], by))

strategies.sort(key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
print("| storm | K | " + " | ".join(strategies) + " |")
print("|---|---:|" + "---:|" * len(strategies))
for pattern, k, by in rows:
    cells = []
    for s in strategies:
        runs = by.get(s, [])
        cpu = med([r["cpu_us_per_child"] for r in runs])
        sc = med([r["syscalls_per_exit"] for r in runs])
        p50 = med([r["latency_us"]["p50"] for r in runs])
        cells.append(f"{fmt(cpu, 1)} µs · {fmt(sc, 2)} sc · p50 {fmt(p50 / 1000 if p50 else None, 2)} ms")
    print(f"| {pattern} | {k:,} | " + " | ".join(cells) + " |")
