#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uvreap-init: exit-code and signal propagation, orphans reaped, signals forwarded (to the
command or its process group). Usage: init_test.py path/to/uvreap-init"""
import os
import signal
import subprocess
import sys
import time

from checks import check, finish, skip

INIT = sys.argv[1]


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

# docs/init.md's -v example: an orphan that exits while the command still runs is reported.
r = run(["-v", "--", "sh", "-c", "(sleep 0.1 &); sleep 1; exit 3"])
check(r.returncode == 3 and r.stderr.count("reaped orphan") == 1,
      f"docs/init.md's -v example shows its orphan line (rc {r.returncode}, {r.stderr!r})")

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
    skip("pid-namespace run: unshare -fp --mount-proc is not permitted here")
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

# Started with fd 0, 1 or 2 closed: /dev/null takes its place before libuv opens anything,
# so the command's stdin is /dev/null (not init's epoll fd) and init exits with the
# command's status (libuv asserts at exit that it closes no fd below 3).
import tempfile
with tempfile.TemporaryDirectory(prefix="uvreap-init-fds-") as tmp:
    for closed in (0, 1, 2):
        out = os.path.join(tmp, f"fd{closed}")
        r = subprocess.run([INIT, "--", "sh", "-c", f"readlink /proc/self/fd/0 > {out}; exit 3"],
                           capture_output=True, timeout=60,
                           preexec_fn=lambda fd=closed: os.close(fd))
        seen = open(out).read().strip() if os.path.exists(out) else None
        check(r.returncode == 3 and seen == "/dev/null",
              f"fd {closed} closed at start: rc {r.returncode}, the command's stdin is {seen}")

# A flood of queued real-time signals while the command exits: forwarded signals are read
# from a signalfd, so none is dropped and the command's exit is never missed. As pid 1
# where a pid namespace can be made (the case where nothing else would end init).
FLOOD = r"""
import os, signal, sys
rt = signal.SIGRTMIN + 1
signal.signal(rt, signal.SIG_IGN)  # what init forwards back
init = os.getppid()
for _ in range(90000):
    os.kill(init, rt)
os._exit(7)
"""
flood_cmd = [INIT, "--", sys.executable, "-c", FLOOD]
if probe.returncode == 0:
    flood_cmd = ["unshare", "-fp", "--mount-proc"] + flood_cmd
try:
    r = subprocess.run(flood_cmd, capture_output=True, text=True, timeout=120)
    check(r.returncode == 7, f"90,000 queued RT signals while the command exits: rc {r.returncode}"
          f"{' (as pid 1)' if probe.returncode == 0 else ''} {r.stderr.strip()[:200]!r}")
except subprocess.TimeoutExpired:
    check(False, "90,000 queued RT signals while the command exits: init never exited")

# Nothing of ours is left behind.
try:
    os.waitpid(-1, os.WNOHANG)
    check(False, "no child left")
except ChildProcessError:
    check(True, "no child left")

finish()
