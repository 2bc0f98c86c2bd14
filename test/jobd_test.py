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
import tempfile
import time

from checks import check, finish, skip

JOBD = sys.argv[1]
# The worker is a fixed program with fixed arguments; requests only add arguments.
WORKER = ["/bin/sh", "-c",
          'case $1 in exit) exit $2;; sleep) exec sleep $2;; '
          'ignore) trap "" TERM; sleep $2;; kill) kill -$2 $$;; '
          'out) printf %s "$2"; printf %s "$3" >&2;; '
          'big) head -c "$2" /dev/zero | tr "\\0" x;; '
          'closeout) exec >&-; sleep "$2"; echo done >&2;; '
          'leave) (sleep "$2" &); echo started;; '
          'daemon) setsid sleep "$2" & echo started;; '
          'bin) printf "\\377\\376ab\\200";; '
          'read) cat "$2";; write) echo x > "$2";; '
          "connect) /usr/bin/python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", "
          "int(sys.argv[1])))' \"$2\";; esac", "worker"]


def start(*flags, env=None):
    p = subprocess.Popen([JOBD, *flags, "--", *WORKER], stdout=subprocess.PIPE, text=True,
                         env=env)
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
    """The server's open fds, but those of the reaper's cgroups: up to 64 of them keep 3
    fds each (a bounded cache, checked apart by cgroup_fds)."""
    return len(os.listdir(f"/proc/{pid}/fd")) - cgroup_fds(pid)


def cgroup_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/sys/fs/cgroup"):
                n += 1
        except OSError:
            continue
    return n


def wait_for(cond, what, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            check(True, what)
            return True
        time.sleep(0.02)
    check(False, what + " (deadline passed)")
    return False


# Correctness checks use a time limit far beyond what any job here needs, even on a loaded
# machine: a job that hits it would be a failure of the machine, not of the server. The
# deadline behaviour has a server of its own below.
srv, port = start("--max-jobs", "1100", "--timeout-ms", "60000", "--grace-ms", "300",
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

# An empty request line is refused: it would run the worker with no arguments.
c = connect(port)
s, f = c
s.sendall(b"\n  \nexit 8\n")
replies = [json.loads(f.readline()) for _ in range(3)]
by_id = {r["id"]: r for r in replies}
check(by_id[1].get("error") == "empty request" and by_id[2].get("error") == "empty request",
      "empty request lines get an error line")
check(by_id[3].get("code") == 8, "the connection still works after them")
c.close()

# A last request without its newline, then a half-close: it is answered, then EOF.
c = connect(port)
s, f = c
s.sendall(b"exit 1\nexit 9")
s.shutdown(socket.SHUT_WR)
replies = sorted((json.loads(f.readline()) for _ in range(2)), key=lambda r: r["id"])
check([r.get("code") for r in replies] == [1, 9], "a last line without newline is answered")
check(f.readline() == "", "then the server closes")
c.close()

# 1,000 requests written at once on one connection, each a job of a few milliseconds: the
# server spawns them all from one read callback. Every one is answered once, with its
# own exit, and none reports a deadline (each limit counts from its own spawn).
c = connect(port)
s, f = c
s.sendall(b"sleep 0.005\n" * 1000)
replies = [json.loads(f.readline()) for _ in range(1000)]
ids = sorted(r.get("id") for r in replies)
check(ids == list(range(1, 1001)), "1,000 pipelined requests: each answered once")
check(all(r.get("exited") and r.get("code") == 0 for r in replies),
      "1,000 pipelined requests: all exited 0")
flagged = sum(1 for r in replies if r.get("deadline"))
check(flagged == 0, f"1,000 pipelined requests: no deadline reported ({flagged})")
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
check(cgroup_fds(srv.pid) <= 3 * 64, f"cgroup fds within 3 x 64 ({cgroup_fds(srv.pid)})")
check(not children(srv.pid), "no child (zombie or not) left in the server")

srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "SIGTERM stops the server cleanly")

# A worker that ignores SIGTERM is SIGKILLed after the grace period.
srv, port = start("--timeout-ms", "300", "--grace-ms", "300")
c = connect(port)
s, f = c
t0 = time.monotonic()
s.sendall(b"ignore 60\n")
r = json.loads(f.readline())
check(r.get("signal") == 9 and r.get("deadline") is True, "SIGTERM ignored: SIGKILL, deadline")
check(time.monotonic() - t0 >= 0.55, "not before timeout + grace")
c.close()
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the deadline server stops cleanly")

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

# Each reply carries the job's stdout and stderr, read through pipes, cut at --max-output.
srv, port = start("--max-output", "100", "--timeout-ms", "60000", "--grace-ms", "2000")
base_fds = fds(srv.pid)
c = connect(port)
s, f = c
s.sendall(b"out hello world\n")
r = json.loads(f.readline())
check(r.get("code") == 0 and r.get("stdout") == "hello" and r.get("stderr") == "world",
      "stdout and stderr come back")
check(r.get("stdout_truncated") is False and r.get("stderr_truncated") is False
      and "output_cut" not in r, "nothing said truncated when nothing was")
s.sendall(b"big 5000\n")
r = json.loads(f.readline())
check(r.get("code") == 0 and r.get("stdout") == "x" * 100 and r.get("stdout_truncated") is True,
      "output past --max-output is read, dropped, and said truncated")
s.sendall(b"closeout 0.2\n")
r = json.loads(f.readline())
check(r.get("code") == 0 and r.get("stdout") == "" and r.get("stderr") == "done\n",
      "a job that closes stdout early: the rest of its output and its exit still come")
c.close()
wait_for(lambda: fds(srv.pid) == base_fds, f"output server: fds back to {base_fds}")
check(not children(srv.pid), "output server: no child left")
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the output server stops cleanly")

# Trees: each job's whole tree is contained (--tree auto by default). What a job leaves
# behind — a double-forked sleep, a setsid daemon — is killed when it exits, after its time
# limit and at the SIGTERM shutdown; --max-jobs counts jobs until their trees are gone; no
# reply waits for a leftover's pipes. Every process of these servers carries a token in its
# environment, so /proc says what is left.
def carrying(token, server=None):
    """Live processes with `token` in their environment, the server itself left out."""
    left = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or (server is not None and int(name) == server.pid):
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{name}/environ", "rb") as f:
                if token.encode() in f.read().split(b"\0"):
                    left.append(int(name))
        except (OSError, IndexError):
            continue
    return left


def tree_server(token, *flags):
    env = dict(os.environ)
    env["UVREAP_JOBD_TOKEN"] = token.split("=", 1)[1]
    return start(*flags, env=env)


token = f"UVREAP_JOBD_TOKEN=trees-{os.getpid()}"
srv, port = tree_server(token, "--timeout-ms", "500", "--grace-ms", "200", "--max-jobs", "2")
c = connect(port)
s, f = c
replies = []
for i in range(10):
    s.sendall(b"leave 60\n")
    replies.append(json.loads(f.readline()))
check(all(r.get("code") == 0 and r.get("stdout") == "started\n" for r in replies),
      "ten jobs that leave a sleep behind: each answered with its output")
check(all("output_cut" not in r for r in replies), "no reply waited for a leftover's pipes")
check(all(r.get("tree") in ("cgroup", "process_group") for r in replies),
      f"each job had a tree ({replies[0].get('tree')})")
if replies[0].get("tree") == "cgroup":
    check(all(r.get("descendants_killed") == 1 for r in replies),
          "each reply counts the sleep it killed")
wait_for(lambda: not carrying(token, srv), "nothing of the ten jobs is left running")
s.sendall(b"sleep 60\nsleep 60\nsleep 60\n")
over = [json.loads(f.readline()) for _ in range(3)]
check(sum(1 for r in over if r.get("error") == "busy") == 1 and
      sum(1 for r in over if r.get("deadline") is True) == 2,
      "--max-jobs 2: the third of three long jobs is busy; the two hit their limit")
c.close()
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the tree server stops cleanly")
check(not carrying(token), "nothing left after it")

# The SIGTERM shutdown ends whole trees: a job that started a setsid daemon, still running.
token = f"UVREAP_JOBD_TOKEN=shutdown-{os.getpid()}"
srv, port = tree_server(token, "--timeout-ms", "60000", "--grace-ms", "200")
c = connect(port)
s, f = c
s.sendall(b"daemon 60\n")
r = json.loads(f.readline())
tree = r.get("tree")
if tree == "cgroup":
    check(r.get("descendants_killed") == 1 and "output_cut" not in r,
          "a setsid daemon is killed with its job, and its reply does not wait for it")
    s.sendall(b"sleep 60\n")
    wait_for(lambda: len(carrying(token, srv)) >= 1, "a long job runs")
    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=60) == 0, "the shutdown server stops cleanly")
    check(not carrying(token), "SIGTERM shutdown: nothing of its jobs is left")
else:
    # A process group cannot hold a setsid daemon: it escapes, as documented.
    check(r.get("output_cut") is True, "without cgroups a setsid daemon escapes the group")
    for pid in carrying(token, srv):
        os.kill(pid, signal.SIGKILL)
    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=60) == 0, "the shutdown server stops cleanly")
c.close()

# --tree off keeps the old behaviour: the job's process group for its time limit, nothing
# after its exit, so a leftover holds the pipes until --grace-ms cuts them.
token = f"UVREAP_JOBD_TOKEN=off-{os.getpid()}"
srv, port = tree_server(token, "--tree", "off", "--grace-ms", "200")
c = connect(port)
s, f = c
s.sendall(b"leave 60\n")
r = json.loads(f.readline())
check(r.get("tree") == "none" and r.get("output_cut") is True and r.get("stdout") == "started\n",
      "--tree off: the leftover holds the pipes; its output is cut after the grace")
c.close()
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the --tree off server stops cleanly")
for pid in carrying(token):
    os.kill(pid, signal.SIGKILL)
r = subprocess.run([JOBD, "--tree", "forest", "--", "/bin/true"], capture_output=True, text=True,
                   timeout=60)
check(r.returncode == 2 and "--tree wants" in r.stderr, "--tree refuses an unknown mode")

# Started with fd 0, 1 or 2 closed: /dev/null takes its place before libuv opens anything,
# so a job's stdin is /dev/null and a SIGTERM shutdown exits 0 (libuv asserts at exit that
# it closes no fd below 3). With fd 1 closed the port cannot be printed: one is chosen here.
for closed in (0, 1, 2):
    probe_sock = socket.socket()
    probe_sock.bind(("127.0.0.1", 0))
    fixed = probe_sock.getsockname()[1]
    probe_sock.close()
    p = subprocess.Popen([JOBD, "--listen", f"127.0.0.1:{fixed}", "--", "/bin/sh", "-c",
                          "readlink /proc/self/fd/0", "job"],
                         stdout=subprocess.PIPE if closed != 1 else subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, text=True,
                         preexec_fn=lambda fd=closed: os.close(fd))
    c = None
    if closed != 1:
        # Its "listening on" line says it is bound.
        if p.stdout.readline().startswith("listening on "):
            c = connect(fixed)
    else:
        # With fd 1 closed it cannot say so: the only sign is a connect that succeeds, so
        # the connection is tried again, with a deadline, until one does.
        end = time.monotonic() + 30
        while c is None and time.monotonic() < end:
            try:
                c = connect(fixed)
            except OSError:
                time.sleep(0.05)
    reply = None
    if c is not None:
        c.sock.sendall(b"x\n")
        reply = json.loads(c.file.readline())
        c.close()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    if p.stdout is not None:
        p.stdout.close()
    check(reply is not None and reply.get("stdout") == "/dev/null\n" and rc == 0,
          f"fd {closed} closed at start: the job's stdin is /dev/null, exit {rc} ({reply})")

def raw_request(port, line):
    """One request; its reply as a strict parser takes it: json.loads on the bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(line)
        return json.loads(sock.makefile("rb").readline())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


# Every reply is valid JSON: valid UTF-8 passes unchanged, a cut never splits a
# character, and bytes that are not UTF-8 come back exactly, in base64.
import base64
srv, port = start("--max-output", "5")
r = raw_request(port, "out été\n".encode())  # 5 bytes: all of --max-output
check(r.get("stdout") == "été" and "stdout_base64" not in r and not r.get("stdout_truncated"),
      f"French text passes unchanged ({r.get('stdout')!r})")
r = raw_request(port, "out 日本語\n".encode())
check(r.get("stdout") == "日" and r.get("stdout_truncated") is True and "stdout_base64" not in r,
      f"a cut at --max-output 5 ends on a character boundary ({r.get('stdout')!r})")
r = raw_request(port, b"out x \xc3\xa9\xe2\x82\n")  # stderr: é, then a cut-off character
check(r.get("stderr") == "é\ufffd\ufffd" and
      base64.b64decode(r.get("stderr_base64", "")) == b"\xc3\xa9\xe2\x82",
      f"a job's own broken UTF-8: replaced in text, exact in base64 ({r.get('stderr')!r})")
r = raw_request(port, b"bin\n")
check(base64.b64decode(r.get("stdout_base64", "")) == b"\xff\xfeab\x80" and
      r.get("stdout") == "\ufffd\ufffdab\ufffd",
      f"binary output: exact bytes in stdout_base64 ({r.get('stdout_base64')!r})")
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the UTF-8 server stops cleanly")

# --grace-ms 0: the output grace runs out at the exit, yet what the job wrote before it
# exited is read from its pipes then, never lost.
srv, port = start("--grace-ms", "0")
conns = [connect(port) for _ in range(30)]
for c in conns:
    c.sock.sendall(b"out hello world\n")
got = []
for c in conns:
    got.append(json.loads(c.file.readline()))
    c.close()
lost = [r for r in got if r.get("stdout") != "hello" or r.get("stderr") != "world"]
check(not lost, f"--grace-ms 0: 30 of 30 replies carry their output ({len(lost)} lost)")
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the grace 0 server stops cleanly")

# A client that sends and never reads: the server stops reading it once 1 MiB of replies
# is unsent, so its memory stays bounded; other clients are still served.
srv, port = start()
base = rss_kib(srv.pid)
flood = socket.create_connection(("127.0.0.1", port), timeout=5)
sent = 0
try:
    chunk = b"\n" * 65536
    for _ in range(256):  # 16 MiB of empty requests, if the server took them all
        flood.sendall(chunk)
        sent += len(chunk)
except socket.timeout:
    pass
grown = rss_kib(srv.pid) - base
with open(f"/proc/{srv.pid}/maps") as f:
    sanitized = "libasan" in f.read()
if sanitized:
    # AddressSanitizer keeps freed memory in its quarantine (256 MiB) and adds shadow
    # pages: RSS says nothing about what the server holds there.
    skip(f"the RSS bound under AddressSanitizer (grew {grown} KiB)")
else:
    check(grown < 16 * 1024, f"16 MiB of requests never read: the server grew {grown} KiB "
          f"(bound 16 MiB; {sent >> 10} KiB were taken)")
check(raw_request(port, b"exit 4\n").get("code") == 4, "another client is served meanwhile")
flood.close()
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the flooded server stops cleanly")

# Under a 256-fd limit, one client holding as many idle connections as it can get does
# not starve another: past --max-conns the oldest idle one makes room, and jobs keep fds.
import resource
def low_fds():
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
p = subprocess.Popen([JOBD, "--", *WORKER], stdout=subprocess.PIPE, text=True, preexec_fn=low_fds)
line = p.stdout.readline().strip()
port = int(line.rsplit(":", 1)[1])
hog = []
for _ in range(300):
    try:
        hog.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    except OSError:
        break
c = connect(port)
for i in range(12):
    c.sock.sendall(f"exit {i}\n".encode())
replies = sorted((json.loads(c.file.readline()) for _ in range(12)), key=lambda r: r.get("id", 0))
ok = [r.get("code") == i and "error" not in r for i, r in enumerate(replies)]
check(all(ok), f"under 256 fds with {len(hog)} idle connections held: 12 of 12 jobs ran "
      f"({[r.get('error') for r in replies if 'error' in r][:3]})")
c.close()
for h in hog:
    h.close()
p.send_signal(signal.SIGTERM)
check(p.wait(timeout=60) == 0, "the low-fd server stops cleanly")

# A connection that never finishes a line is closed after --idle-timeout-ms.
srv, port = start("--idle-timeout-ms", "200")
idle = socket.create_connection(("127.0.0.1", port), timeout=30)
idle.sendall(b"exit 1")  # no newline, ever
check(idle.recv(100) == b"", "an idle connection with half a line is closed (EOF)")
idle.close()
srv.send_signal(signal.SIGTERM)
check(srv.wait(timeout=60) == 0, "the idle-timeout server stops cleanly")

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
# A worker that cannot run stops the server at start, with the reason, instead of failing
# every request later.
not_executable = tempfile.NamedTemporaryFile(prefix="uvreap-jobd-worker-")  # mode 0600
for worker, why in [("/nonexistent/worker", "No such file or directory"),
                    (not_executable.name, "Permission denied"), ("/tmp", "Is a directory")]:
    r = subprocess.run([JOBD, "--", worker], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and f"worker {worker}: {why}" in r.stderr and not r.stdout,
          f"a worker that cannot run ({worker}) is refused at start: {r.stderr.strip()!r}")

# Every numeric flag refuses negatives, junk and out-of-range values, naming the flag.
for flag, value in [("--max-jobs", "-5"), ("--max-jobs", "0"), ("--timeout-ms", "-1"),
                    ("--timeout-ms", "99999999999999999999"), ("--timeout-ms", "10s"),
                    ("--grace-ms", "-1"), ("--grace-ms", "+5"), ("--max-line", "0"),
                    ("--max-line", "x"), ("--max-output", "-1"), ("--max-output", "1e3"),
                    ("--listen", "127.0.0.1:70000"),
                    ("--listen", "127.0.0.1:-1")]:
    r = subprocess.run([JOBD, flag, value, "--", "/bin/true"], capture_output=True, text=True,
                       timeout=60)
    named = flag if flag != "--listen" else "port"
    check(r.returncode == 2 and named in r.stderr and "takes a whole number" in r.stderr,
          f"{flag} {value}: refused with exit 2 and a message naming it")
# Sandboxed jobs (--sandbox-read/-write, --no-network): Landlock ABI 4 or later.
def landlock_abi():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, VERSION), x86-64
    return max(r, 0)


if landlock_abi() >= 4:
    box = tempfile.mkdtemp(prefix="uvreap-jobd-sandbox-")
    secret = tempfile.NamedTemporaryFile(prefix="uvreap-jobd-secret-", mode="w")
    secret.write("secret\n")
    secret.flush()
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(16)
    tport = target.getsockname()[1]
    outside = os.path.join(tempfile.gettempdir(), f"uvreap-jobd-outside-{os.getpid()}")
    for flags, confined in [(("--sandbox-write", box, "--no-network"), True), ((), False)]:
        srv, port = start("--timeout-ms", "60000", *flags)
        c = connect(port)
        s, f = c
        s.sendall(f"read /etc/hostname\nread {secret.name}\nwrite {box}/made\n"
                  f"write {outside}\nconnect {tport}\n".encode())
        got = {}
        for _ in range(5):
            r = json.loads(f.readline())
            got[r["id"]] = r
        what = "a sandboxed job" if confined else "the same job unconfined"
        check(got[1].get("code") == 0, f"{what} reads /etc (a system directory)")
        check((got[2].get("code") != 0 and "Permission denied" in got[2].get("stderr", ""))
              if confined else got[2].get("stdout") == "secret\n",
              f"{what} reading a file outside: {got[2]}")
        check(got[3].get("code") == 0 and os.path.exists(f"{box}/made"),
              f"{what} writes beneath --sandbox-write")
        check((got[4].get("code") != 0) == confined and os.path.exists(outside) != confined,
              f"{what} writing outside: {got[4].get('stderr', '').strip()!r}")
        check((got[5].get("code") != 0 and "PermissionError" in got[5].get("stderr", ""))
              if confined else got[5].get("code") == 0,
              f"{what} connecting over TCP: {got[5].get('stderr', '').strip()[-80:]!r}")
        check(all(r.get("sandbox") is (True if confined else None) for r in got.values()),
              f"the replies say \"sandbox\":true only when confined")
        c.close()
        srv.send_signal(signal.SIGTERM)
        check(srv.wait(timeout=60) == 0, "the server stops cleanly")
        if os.path.exists(outside):
            os.unlink(outside)
    r = subprocess.run([JOBD, "--sandbox-read", "/nonexistent/uvreap", "--", "/bin/true"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "cannot confine jobs" in r.stderr and "/nonexistent/uvreap" in r.stderr,
          f"a sandbox that cannot be made stops the server at start: {r.stderr.strip()!r}")
    r = subprocess.run([JOBD, "--sandbox-read", "relative", "--", "/bin/true"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "absolute path" in r.stderr, "a relative sandbox path is refused")
    target.close()
    subprocess.run(["rm", "-rf", box], check=True)
else:
    skip(f"sandboxed jobs: Landlock ABI 4 is not here ({landlock_abi()})")

r = subprocess.run([JOBD, "--help"], capture_output=True, text=True, timeout=60)
check(r.returncode == 0 and r.stdout.startswith("usage: uvreap-jobd") and not r.stderr,
      "--help: usage on stdout, exit 0")
r = subprocess.run([JOBD, "--nosuch"], capture_output=True, text=True, timeout=60)
check(r.returncode == 2 and "unknown option --nosuch" in r.stderr, "an unknown flag is named")
r = subprocess.run([JOBD, "--max-jobs"], capture_output=True, text=True, timeout=60)
check(r.returncode == 2 and "missing value after --max-jobs" in r.stderr,
      "a flag without its value is named")

finish()
