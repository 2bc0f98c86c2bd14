#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uvreap-init: exit-code and signal propagation, orphans reaped, signals forwarded (to the
command or its process group). Usage: init_test.py path/to/uvreap-init"""
import os
import signal
import subprocess
import sys
import time

INIT = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(args, **kw):
    return subprocess.run([INIT] + args, capture_output=True, text=True, timeout=60, **kw)


# Exit code and signal propagation.
check(run(["--", "sh", "-c", "exit 7"]).returncode == 7, "exit code 7 propagates")
check(run(["--", "sh", "-c", "kill -KILL $$"]).returncode == 128 + 9, "SIGKILL gives 137")
check(run(["--", "/nonexistent/cmd"]).returncode == 127, "a missing command gives 127")
r = run(["-x", "--", "true"])
check(r.returncode == 2 and "unknown option -x" in r.stderr, "an unknown flag: named, exit 2")
r = run(["--"])
check(r.returncode == 2 and "no command given" in r.stderr, "no command: usage error")
for flag in ["-h", "--help"]:
    r = run([flag])
    check(r.returncode == 0 and r.stdout.startswith("usage: uvreap-init") and not r.stderr,
          f"{flag}: usage on stdout, exit 0")

# README's -v example: an orphan that exits while the command still runs is reported.
r = run(["-v", "--", "sh", "-c", "(sleep 0.1 &); sleep 1; exit 3"])
check(r.returncode == 3 and r.stderr.count("reaped orphan") == 1,
      f"README's -v example shows its orphan line (rc {r.returncode}, {r.stderr!r})")

# Orphans: the command double-forks 10 grandchildren that exit at once; their parents
# exit first, so init adopts them. The command waits (10 s at most) until init has no
# child but itself, i.e. every orphan was reaped, then exits 3.
ORPHANS = r"""
import os, sys, time
for _ in range(10):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
init = os.getppid()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    kids = set()
    for t in os.listdir(f"/proc/{init}/task"):
        with open(f"/proc/{init}/task/{t}/children") as f:
            kids.update(int(p) for p in f.read().split())
    if kids == {os.getpid()}:
        sys.exit(3)
    time.sleep(0.01)
sys.exit(4)
"""
r = run(["-v", "--", sys.executable, "-c", ORPHANS])
check(r.returncode == 3, f"all orphans reaped before the command ended (rc {r.returncode})")
check(r.stderr.count("reaped orphan") == 10, f"10 orphans reported ({r.stderr.count('reaped orphan')})")

# As pid 1 of a new pid namespace (where the privileges allow one), the same orphans.
probe = subprocess.run(["unshare", "-fp", "--mount-proc", "true"], capture_output=True)
if probe.returncode != 0:
    print("skip pid-namespace run: unshare -fp --mount-proc is not permitted here")
else:
    r = subprocess.run(["unshare", "-fp", "--mount-proc", INIT, "-v", "--", sys.executable,
                        "-c", ORPHANS], capture_output=True, text=True, timeout=60)
    check(r.returncode == 3, f"as pid 1: all orphans reaped (rc {r.returncode})")
    check(r.stderr.count("reaped orphan") == 10, "as pid 1: 10 orphans reported")

# A forwarded SIGTERM reaches the command, whose own exit code comes back.
TERM = r"""
import signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
print("ready", flush=True)
signal.pause()
"""
p = subprocess.Popen([INIT, "--", sys.executable, "-c", TERM], stdout=subprocess.PIPE, text=True)
check(p.stdout.readline().strip() == "ready", "the command started")
p.send_signal(signal.SIGTERM)
check(p.wait(timeout=60) == 42, "SIGTERM forwarded to the command")
p.stdout.close()

for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
    p = subprocess.Popen([INIT, "--", "sh", "-c", "echo ready; exec sleep 60"],
                         stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.send_signal(sig)
    check(p.wait(timeout=60) == 128 + sig, f"{sig.name} forwarded, 128+{int(sig)} returned")
    p.stdout.close()

# -g: the whole process group gets it, so the shell's background child dies too (its
# copy of stdout closes: EOF).
p = subprocess.Popen([INIT, "-g", "--", "sh", "-c", "sleep 120 & echo ready; wait"],
                     stdout=subprocess.PIPE, text=True)
check(p.stdout.readline().strip() == "ready", "the group command started")
p.send_signal(signal.SIGTERM)
check(p.wait(timeout=60) == 128 + signal.SIGTERM, "the group command died of SIGTERM")
start = time.monotonic()
rest = p.stdout.read()  # returns at EOF, once the background sleep is gone too
check(rest == "" and time.monotonic() - start < 60, "the background child died with its group")

# Nothing of ours is left behind.
try:
    os.waitpid(-1, os.WNOHANG)
    check(False, "no child left")
except ChildProcessError:
    check(True, "no child left")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
