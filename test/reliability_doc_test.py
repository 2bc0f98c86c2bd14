#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test/RELIABILITY.md stays true: 49 scenario rows, in order, each naming a test or a
decision, and every `suite/test` it names exists in the test binary."""
import re
import subprocess
import sys

import checks
from checks import check, finish

doc_path, binary = sys.argv[1], sys.argv[2]
doc = open(doc_path, encoding="utf-8").read()

listing = subprocess.run([binary, "--list_content"], capture_output=True, text=True, check=True)
known, suite = set(), None
for line in (listing.stdout + listing.stderr).splitlines():
    name = line.strip().rstrip("*")
    if not name:
        continue
    if line.startswith(" "):
        known.add(f"{suite}/{name}")
    else:
        suite = name
        known.add(f"{suite}/*")

rows = re.findall(r"^\| (\d+) \| [^|]+ \| (.+) \|$", doc, re.M)
numbers = [int(n) for n, _ in rows]
check(numbers == list(range(1, 50)), f"rows are {numbers}, expected 1..49", quiet=True)
for n, body in rows:
    cited = re.findall(r"`([a-z_]+_suite/[a-z0-9_*]+)`", body)
    check(cited or "Decision" in body, f"row {n}: names no test and no decision", quiet=True)
    for t in cited:
        check(t in known, f"row {n}: no test {t}", quiet=True)
finish(f"{len(rows)} rows, {len(checks.failures)} problems")
