#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# uvreap-bench --kernel-costs on a few children: it exits 0, prints every step once with a
# figure, and the P_ALL wait costs more with more live children to walk.
#
#   kernel_costs_test.py BENCH
import re
import subprocess
import sys

import checks
from checks import check, finish

bench = sys.argv[1]
out = subprocess.run([bench, "--kernel-costs", "--children", "50", "--background", "300",
                      "--repeat", "1"], capture_output=True, text=True, timeout=300)
print(out.stdout, out.stderr, sep="")
check(out.returncode == 0, f"exit status {out.returncode}", quiet=True)
figures = {}
for line in out.stdout.splitlines()[1:]:
    m = re.match(r"^(.*\S)\s+(-?[0-9.]+) (us|ns)$", line)
    if not check(m is not None, f"unparsed line: {line!r}", quiet=True):
        continue
    figures[m.group(1).strip()] = float(m.group(2))
want = ["wait4(pid) of an exited child, no pidfd",
        "wait4(pid) of an exited child, pidfd in an epoll set",
        "epoll_wait, per ready pidfd it returns",
        "close(pidfd) after the reap, pidfd in no epoll set",
        "close(pidfd) after the reap, pidfd in an epoll set",
        "so the pidfd policy's steps per exit add up to",
        "waitid(P_ALL, WNOWAIT) with K = 0 older live children",
        "waitid(P_ALL, WNOWAIT) with K = 30 older live children",
        "waitid(P_ALL, WNOWAIT) with K = 300 older live children",
        "each live child adds to every P_ALL wait"]
for w in want:
    if check(w in figures, f"missing: {w}", quiet=True):
        check(figures[w] > 0, f"{w}: {figures[w]} is not positive", quiet=True)
check(len(figures) == len(want), f"{len(figures)} figures, want {len(want)}", quiet=True)
finish(f"kernel costs: {len(figures)} figures, {len(checks.failures)} problems")
