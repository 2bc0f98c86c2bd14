#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uvreap-jobd from outside: 200 concurrent requests each answered correctly; overlong
lines, binary garbage, half-closed sockets, vanished clients, a worker that ignores
SIGTERM past its deadline, the job cap, loopback-only listening; and afterwards no zombie
and no leaked fd in the server. Usage: jobd_test.py path/to/uvreap-jobd"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

JOBD = sys.argv[1]
# The worker is a fixed program with fixed arguments; requests only add arguments.
WORKER = ["/bin/sh", "-c",
          'case $1 in exit) exit $2;; sleep) exec sleep $2;; '
          'ignore) trap "" TERM; sleep $2;; kill) kill -$2 $$;; esac', "worker"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def start(*flags):
    p = subprocess.Popen([JOBD, *flags, "--", *WORKER], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("listening on "), line
    port = int(line.rsplit(":", 1)[1])
    return p, port


class conn:
    """A client socket and a line reader over it; close() really closes the socket."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.file = self.sock.makefile("r", encoding="utf-8", errors="replace")

    def __iter__(self):
        return iter((self.sock, self.file))

    def close(self):
        self.file.close()
        self.sock.close()


def connect(port):
    return conn(port)


def children(pid):
    kids = []
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/children") as f:
            kids += f.read().split()
    return kids


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(cond, what, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            check(True, what)
            return True
        time.sleep(0.02)
    check(False, what + " (deadline passed)")
    return False


srv, port = start("--max-jobs", "250", "--timeout-ms", "300", "--grace-ms", "300",
                  "--max-line", "64")
base_fds = fds(srv.pid)

# 200 concurrent requests, one connection each, distinct exit codes.
conns = [connect(port) for _ in range(200)]
for i, c in enumerate(conns):
    c.sock.sendall(f"exit {i}\n".encode())
good = 0
for i, c in enumerate(conns):
    s, f = c
    r = json.loads(f.readline())
    if r.get("id") == 1 and r.get("exited") and r.get("code") == i and r.get("pid", 0) > 0 \
            and not r.get("deadline") and "cpu_ms" in r and "max_rss_kib" in r:
        good += 1
    c.close()
check(good == 200, f"200 concurrent requests answered correctly ({good})")

# Several requests on one connection, answered with their ids; a signal is reported apart.
c = connect(port)
s, f = c
s.sendall(b"exit 3\nkill 15\nexit 4\n")
replies = sorted((json.loads(f.readline()) for _ in range(3)), key=lambda r: r["id"])
check([r.get("code") for r in replies] == [3, None, 4], "pipelined requests keep their ids")
check(replies[1].get("signaled") and replies[1].get("signal") == 15, "a signal is reported")

# An overlong line gets an error line; the connection keeps working.
s.sendall(b"exit " + b"9" * 200 + b"\nexit 5\n")
r1, r2 = json.loads(f.readline()), json.loads(f.readline())
check(r1.get("error") == "line too long", "an overlong line is refused")
check(r2.get("code") == 5, "the connection still works after it")

# Binary garbage gets an error line, never a crash.
s.sendall(bytes(range(0, 32)) + b"\xff\xfe\x00zz\n")
check(json.loads(f.readline()).get("error") == "invalid bytes", "binary garbage is refused")
c.close()

# A half-closed socket still gets its reply, then EOF.
c = connect(port)
s, f = c
s.sendall(b"exit 6\n")
s.shutdown(socket.SHUT_WR)
check(json.loads(f.readline()).get("code") == 6, "a half-closed client gets its reply")
check(f.readline() == "", "then the server closes")
c.close()

# A worker that ignores SIGTERM is SIGKILLed after the grace period.
c = connect(port)
s, f = c
t0 = time.monotonic()
s.sendall(b"ignore 60\n")
r = json.loads(f.readline())
check(r.get("signal") == 9 and r.get("deadline") is True, "SIGTERM ignored: SIGKILL, deadline")
check(time.monotonic() - t0 >= 0.55, "not before timeout + grace")
c.close()

# Clients that vanish mid-job: the jobs are still reaped.
for _ in range(20):
    c = connect(port)
    c.sock.sendall(b"sleep 0.2\n")
    c.close()
wait_for(lambda: not children(srv.pid), "vanished clients' jobs are reaped")

# The server is alive, has no zombie and no leaked fd.
c = connect(port)
s, f = c
s.sendall(b"exit 0\n")
check(json.loads(f.readline()).get("code") == 0, "the server still serves")
c.close()
wait_for(lambda: fds(srv.pid) == base_fds, f"fds back to {base_fds}")
check(not children(srv.pid), "no child (zombie or not) left in the server")

srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "SIGTERM stops the server cleanly")

# The job cap: a second request while one runs is refused with a clear error.
srv, port = start("--max-jobs", "1", "--timeout-ms", "500", "--grace-ms", "0")
c = connect(port)
s, f = c
s.sendall(b"sleep 60\nexit 0\n")
busy = json.loads(f.readline())
check(busy.get("error") == "busy" and busy.get("max_jobs") == 1, "over the cap: busy")
check(json.loads(f.readline()).get("deadline") is True, "the running job hits its deadline")
c.close()
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "second server stops cleanly")

# Loopback only, unless asked.
r = subprocess.run([JOBD, "--listen", "0.0.0.0:0", "--", "/bin/true"], capture_output=True,
                   text=True, timeout=60)
check(r.returncode == 2 and "non-loopback" in r.stderr, "a non-loopback address is refused")
p = subprocess.Popen([JOBD, "--listen", "0.0.0.0:0", "--allow-remote", "--", "/bin/true"],
                     stdout=subprocess.PIPE, text=True)
check(p.stdout.readline().startswith("listening on 0.0.0.0:"), "--allow-remote permits it")
p.send_signal(signal.SIGTERM)
p.wait(timeout=60)
r = subprocess.run([JOBD, "--", "sh"], capture_output=True, text=True, timeout=60)
check(r.returncode == 2, "a relative worker path is refused")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
