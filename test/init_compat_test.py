#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uvreap-init against what tini and dumb-init users rely on. The same file runs against
the real tini and dumb-init (Debian's packages) where they are installed: each check
says which peer's behaviour it is and runs against the binaries that have it, so a check
the peer itself fails is a mis-port. Usage: init_compat_test.py FLAVOR BINARY
(FLAVOR: uvreap, tini or dumb-init). Exit 77 (skipped) when BINARY is missing."""
import atexit
import errno
import os
import pty
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import checks
from checks import check, skip

FLAVOR, BINARY = sys.argv[1], sys.argv[2]
if not os.access(BINARY, os.X_OK):
    checks.skip_all(f"{BINARY} is not installed")
checks.prefix = f"[{FLAVOR}] "
TMP = tempfile.mkdtemp(prefix="uvreap-init-compat-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)


def peers(*flavors):
    """True when this run's binary is one whose behaviour the check describes."""
    return FLAVOR in flavors


def argv(*cmd, group=False, extra=()):
    """The init command line for this flavor: the command alone, or in its own group."""
    if FLAVOR == "tini":
        return [BINARY, "-s", *(["-g"] if group else []), *extra, "--", *cmd]
    if FLAVOR == "dumb-init":
        # dumb-init's default is its setsid mode (a group); -c is one child only.
        return [BINARY, *([] if group else ["-c"]), *extra, *cmd]
    return [BINARY, *(["-g"] if group else []), *extra, "--", *cmd]


def run(*cmd, group=False, extra=(), timeout=60, **kw):
    return subprocess.run(argv(*cmd, group=group, extra=extra), capture_output=True, text=True,
                          timeout=timeout, **kw)


# A command that reports each signal it gets on stdout, one number per line, after
# "ready"; it exits 0 on SIGUSR2 (that is reported first) or after 300 s.
REPORTER = os.path.join(TMP, "reporter.py")
with open(REPORTER, "w") as f:
    f.write(r"""
import os, signal, sys, time
signal.pthread_sigmask(signal.SIG_SETMASK, [])  # whatever init's parent blocked
def on(sig, frame):
    os.write(1, f"{sig}\n".encode())
    if sig == signal.SIGUSR2:
        os._exit(0)
for s in range(1, signal.SIGRTMAX + 1):
    if s in (signal.SIGKILL, signal.SIGSTOP, 32, 33):
        continue
    try:
        signal.signal(s, on)
    except (OSError, ValueError):
        pass
os.write(1, b"ready\n")
# Alive for at most 300 s, reporting each signal from its handler meanwhile (time.sleep
# resumes after a handler runs); the test ends it long before.
time.sleep(300)
sys.exit(9)
""")


def start_reporter(group=False, extra=(), **kw):
    p = subprocess.Popen(argv(sys.executable, REPORTER, group=group, extra=extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    line = read_line(p)
    assert line == "ready", line
    return p


def read_line(p, timeout=60.0):
    """One line of the reporter's output, or None after `timeout` (a generous deadline: a
    loaded machine delays the reporter by seconds). Read a byte at a time from the fd, so
    that no line waits in a buffer that select cannot see."""
    end = time.monotonic() + timeout
    fd = p.stdout.fileno()
    data = b""
    while not data.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        byte = os.read(fd, 1)
        if not byte:
            break
        data += byte
    return data.decode().strip() if data else None


def finish(p):
    p.send_signal(signal.SIGUSR2)
    read_line(p)
    return p.wait(timeout=60)


# --- exit status ----------------------------------------------------------------------
# tini's and dumb-init's: the command's exit code, 0-255, is init's.
codes = [c for c in range(256) if run("sh", "-c", f"exit {c}").returncode != c]
check(not codes, f"every exit code 0-255 propagates (wrong: {codes[:5]})")

# tini's and dumb-init's: killed by signal n, init exits 128 + n (dumb-init's setsid mode
# and tini both report it that way).
DEADLY = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGILL, signal.SIGTRAP,
          signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGKILL, signal.SIGUSR1,
          signal.SIGSEGV, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM, signal.SIGTERM,
          signal.SIGXCPU, signal.SIGXFSZ, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO,
          signal.SIGPWR, signal.SIGSYS, signal.SIGRTMIN, signal.SIGRTMAX]
wrong = []
for s in DEADLY:
    dfl = "" if s == signal.SIGKILL else f"signal.signal({int(s)}, signal.SIG_DFL); "
    script = f"import os, resource, signal; {dfl}" \
             f"resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); os.kill(os.getpid(), {int(s)})"
    rc = run(sys.executable, "-c", script).returncode
    if rc != 128 + int(s):
        wrong.append((int(s), rc))
check(not wrong, f"killed by signal n: exit 128 + n for every deadly signal (wrong: {wrong})")

# tini's: not found 127, not executable 126, a script without "#!" runs through /bin/sh.
if peers("uvreap", "tini"):
    check(run("/nonexistent/command").returncode == 127, "a missing command: 127")
    noexec = os.path.join(TMP, "noexec")
    with open(noexec, "w") as f:
        f.write("exit 0\n")
    os.chmod(noexec, 0o644)
    check(run(noexec).returncode == 126, "a command that is not executable: 126")
    script = os.path.join(TMP, "script")
    with open(script, "w") as f:
        f.write("exit 5\n")
    os.chmod(script, 0o755)
    check(run(script).returncode == 5, "a script without #! runs through /bin/sh (exit 5)")

# --- signals ----------------------------------------------------------------------------
# tini forwards every signal but the faults; dumb-init 1-31 but KILL/STOP/CHLD. The
# common set, plus the real-time signals where tini has them: each sent to init reaches
# the command.
COMMON = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGPIPE,
          signal.SIGALRM, signal.SIGTERM, signal.SIGCONT, signal.SIGURG, signal.SIGXCPU,
          signal.SIGXFSZ, signal.SIGVTALRM, signal.SIGPROF, signal.SIGWINCH, signal.SIGIO,
          signal.SIGPWR, signal.SIGSTKFLT]
if peers("uvreap", "tini"):
    COMMON += [signal.SIGRTMIN, signal.SIGRTMIN + 3, signal.SIGRTMAX]
for group in (False, True):
    p = start_reporter(group=group)
    missed = []
    for s in COMMON:
        p.send_signal(s)
        got = read_line(p)
        if got != str(int(s)):
            missed.append((int(s), got))
    rc = finish(p)
    check(not missed and rc == 0,
          f"every forwardable signal reaches the command{' (group)' if group else ''} "
          f"(missed: {missed}, rc {rc})")

# Signals blocked when init starts (all three forward them), or ignored (dumb-init
# installs handlers over SIG_IGN; tini's sigtimedwait never sees an ignored signal).
for how in ("blocked", "ignored"):
    if how == "ignored" and not peers("uvreap", "dumb-init"):
        continue
    def pre(how=how):
        if how == "blocked":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        else:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    p = start_reporter(preexec_fn=pre)  # ready: init is past its start-up
    p.send_signal(signal.SIGTERM)
    got = read_line(p)
    rc = finish(p)
    check(got == str(int(signal.SIGTERM)) and rc == 0,
          f"SIGTERM {how} when init started: forwarded ({got}, rc {rc})")

# dumb-init's job control: SIGTSTP is forwarded and then init stops itself; SIGCONT
# resumes it and is forwarded too.
def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_state(pid, want, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:  # a poll of another process's state, with a deadline
        if state(pid) == want:
            return True
        time.sleep(0.02)
    return False


if peers("uvreap", "dumb-init"):
    p = start_reporter()
    p.send_signal(signal.SIGTSTP)
    got = read_line(p)
    stopped = wait_state(p.pid, "T")
    p.send_signal(signal.SIGCONT)
    got_cont = read_line(p)
    running = wait_state(p.pid, "S")
    rc = finish(p)
    check(got == str(int(signal.SIGTSTP)) and stopped and got_cont == str(int(signal.SIGCONT))
          and running and rc == 0,
          f"SIGTSTP: forwarded, then init stops; SIGCONT: init resumes and forwards it "
          f"({got}, {stopped}, {got_cont}, {running}, rc {rc})")

# tini's -e: an exit code counted as success.
if peers("uvreap", "tini"):
    check(run("sh", "-c", "exit 143", extra=["-e", "143"]).returncode == 0, "-e 143: exit 0")
    check(run("sh", "-c", "exit 3", extra=["-e", "143", "-e", "3"]).returncode == 0,
          "-e repeatable")
    check(run("sh", "-c", "exit 4", extra=["-e", "3"]).returncode == 4, "-e: other codes kept")

# dumb-init's -r: rewrite a signal, or drop it (TO 0).
if peers("uvreap", "dumb-init"):
    p = start_reporter(extra=["-r", "15:3"])
    p.send_signal(signal.SIGTERM)
    check(read_line(p) == str(int(signal.SIGQUIT)), "-r 15:3: SIGTERM arrives as SIGQUIT")
    finish(p)
    p = start_reporter(extra=["-r", "15:0"])
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGHUP)
    check(read_line(p) == str(int(signal.SIGHUP)), "-r 15:0: SIGTERM dropped, SIGHUP still sent")
    finish(p)

# tini's -p: a signal when init's parent dies. A shell starts init and exits at once.
if peers("uvreap", "tini"):
    out = os.path.join(TMP, "pdeath")
    ready = os.path.join(TMP, "pdeath.ready")
    child = f"import signal, sys, time\n" \
            f"def on(s, f):\n open({out!r}, 'w').write(str(s)); sys.exit(0)\n" \
            f"signal.signal(signal.SIGUSR1, on)\nopen({ready!r}, 'w').close()\ntime.sleep(30)\n"
    line = " ".join(shlex.quote(a) for a in argv(sys.executable, "-c", child, extra=["-p", "SIGUSR1"]))
    # The shell exits once the command runs (so init has set its death signal): poll for
    # the command's mark, 10 s at most.
    subprocess.run(["sh", "-c", f"{line} >/dev/null 2>&1 & i=0; "
                    f"while [ ! -e {ready} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done"],
                   timeout=60)
    end = time.monotonic() + 20
    while time.monotonic() < end and not os.path.exists(out):
        time.sleep(0.05)
    got = open(out).read() if os.path.exists(out) else None
    check(got == str(int(signal.SIGUSR1)), f"-p SIGUSR1: sent when init's parent died ({got})")

# dumb-init's setsid mode: when the command exits, the rest of its group gets SIGTERM.
pidfile = os.path.join(TMP, "bg.pid")
r = run("sh", "-c", f"sleep 60 >/dev/null 2>&1 & echo $! > {pidfile}; exit 0", group=True)
bg = int(open(pidfile).read())
end = time.monotonic() + 10
while time.monotonic() < end and os.path.exists(f"/proc/{bg}") and \
        open(f"/proc/{bg}/stat").read().split()[2] != "Z":
    time.sleep(0.05)
alive = os.path.exists(f"/proc/{bg}") and open(f"/proc/{bg}/stat").read().split()[2] != "Z"
if peers("uvreap", "dumb-init"):
    check(not alive, "group mode: the command's leftover group member gets SIGTERM on exit")
if alive:
    os.kill(bg, signal.SIGKILL)

# --- the terminal ------------------------------------------------------------------------
def pty_read_until(fd, out, marker, timeout):
    """Appends what the terminal's master side gives to `out` until `marker` shows (or
    the terminal closes, or the deadline passes); returns it."""
    end = time.monotonic() + timeout
    while marker not in out and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def on_pty(args, feed, after=b"", timeout=20.0):
    """Runs args with a new pseudo-terminal as its controlling terminal and stdio; once
    the output shows `after`, types `feed`; returns (rc, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(args[0], args)
    out = pty_read_until(fd, b"", after, timeout)
    os.write(fd, feed)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError as e:
                if e.errno == errno.EIO:
                    break
                raise
            if not data:
                break
            out += data
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return os.waitstatus_to_exitcode(status), out
    # The terminal closes (EIO) a moment before the process is a zombie: wait for it.
    while time.monotonic() < end:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return os.waitstatus_to_exitcode(status), out
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None, out


# tini's -g (and dumb-init's setsid mode): the command in its own group reads the terminal.
# (Typed at once: the terminal holds the lines and the end-of-file until tac reads.)
rc, out = on_pty(argv("/usr/bin/tac", group=True), b"one\ntwo\n\x04")
check(rc == 0 and b"two\r\none" in out, f"group mode on a tty: tac reads the terminal (rc {rc})")
# Ctrl-C goes to the command's group: it dies of SIGINT, init exits 130.
rc, out = on_pty(argv("/bin/sh", "-c", "echo going; exec sleep 30", group=True), b"\x03",
                 after=b"going")
check(rc == 130, f"group mode on a tty: Ctrl-C ends the command, 130 (rc {rc})")

# tini's -g with an interactive shell: bash -m reads the terminal, runs a job, and
# Ctrl-Z stops the job and `fg` resumes it (job control needs the foreground group).
def comm_pids(name):
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(d))
            except OSError:
                pass
    return found


if os.access("/bin/bash", os.X_OK):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PS1"] = "uvr> "  # a prompt to count, whoever runs the test
        os.execv(argv("/bin/bash", "--norc", "--noprofile", "-i", group=True)[0],
                 argv("/bin/bash", "--norc", "--noprofile", "-i", group=True))
    out = b""

    def read_until(marker, timeout=20.0):
        global out
        out = pty_read_until(fd, out, marker, timeout)
        return marker in out

    before = set(comm_pids("cat"))
    os.write(fd, b"echo sh-$((40+2))\n")
    shell_ok = read_until(b"sh-42\r\n")
    os.write(fd, b"cat\n")
    end = time.monotonic() + 20  # poll until the job runs (another process's state)
    while time.monotonic() < end and not set(comm_pids("cat")) - before:
        time.sleep(0.02)
    os.write(fd, b"\x1a")  # Ctrl-Z
    stopped = read_until(b"Stopped")
    # Each line typed once the one reading it is in the foreground (bash's line editor
    # reads raw, where Ctrl-D is just a byte): bash names the job when fg resumes it.
    jobs = out.count(b"cat\r\n")
    os.write(fd, b"fg\n")
    end = time.monotonic() + 20
    while out.count(b"cat\r\n") <= jobs and time.monotonic() < end:
        read_until(b"cat\r\n" * (jobs + 1), timeout=0.2)
    os.write(fd, b"back\n")
    resumed = read_until(b"back\r\nback\r\n")  # the terminal's echo, then cat's copy
    prompts = out.count(b"uvr> ")
    os.write(fd, b"\x04")  # cat ends; bash prompts again
    end = time.monotonic() + 20
    while out.count(b"uvr> ") <= prompts and time.monotonic() < end:
        read_until(b"\xff", timeout=0.2)
    os.write(fd, b"exit 4\n")
    read_until(b"\xff", timeout=3)  # drain until the terminal closes
    rc = None
    end = time.monotonic() + 20
    while time.monotonic() < end:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            rc = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.02)
    if rc is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    check(shell_ok and stopped and resumed and rc == 4,
          f"group mode on a tty: interactive bash, Ctrl-Z and fg work (shell {shell_ok}, "
          f"stopped {stopped}, resumed {resumed}, rc {rc})")

# tini's and dumb-init's: 1,000 orphans at once, and no zombie left behind.
ORPHANS = os.path.join(TMP, "orphans.py")
with open(ORPHANS, "w") as f:
    f.write(r"""
import os, time
for _ in range(1000):
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(0.2)
            os._exit(0)
        os._exit(0)
# Each middle process is ours to wait for; the grandchildren go to init.
for _ in range(1000):
    os.wait()
init = os.getppid()
end = time.monotonic() + 30
while time.monotonic() < end:
    zombies = 0
    kids = []
    for t in os.listdir(f"/proc/{init}/task"):
        with open(f"/proc/{init}/task/{t}/children") as c:
            kids += c.read().split()
    for k in kids:
        if int(k) == os.getpid():
            continue
        try:
            with open(f"/proc/{k}/stat") as s:
                zombies += 1
        except OSError:
            pass
    if zombies == 0:
        os._exit(0)
    time.sleep(0.05)
os._exit(1)
""")
# 2,000 forks of python: minutes on a loaded machine under a sanitizer, so a deadline of
# its own (a failure, not a hang, when it passes).
check(run(sys.executable, ORPHANS, timeout=240).returncode == 0,
      "1,000 orphans at once: every one reaped while the command runs")

# uvreap-init's own: the command gets no fd of init's but 0-2 (tini and dumb-init pass
# them all on).
if peers("uvreap"):
    extra_fd = os.open("/dev/null", os.O_RDONLY)
    r = subprocess.run(argv(sys.executable, "-c",
                            "import os; print(len([f for f in os.listdir('/proc/self/fd') "
                            "if int(f) > 2]) - 1)"),
                       capture_output=True, text=True, timeout=60, pass_fds=(extra_fd,))
    os.close(extra_fd)
    check(r.stdout.strip() == "0", f"the command inherits no fd above 2 ({r.stdout.strip()})")

# --- a pid namespace ----------------------------------------------------------------------
# As PID 1 of a new pid namespace: exit codes and forwarding hold there too.
probe = subprocess.run(["unshare", "-fp", "--mount-proc", "true"], capture_output=True)
if probe.returncode != 0:
    skip(f"pid namespace tests (unshare: {probe.stderr.decode().strip()})")
else:
    r = subprocess.run(["unshare", "-fp", "--mount-proc", *argv("sh", "-c", "exit 9")],
                       capture_output=True, timeout=60)
    check(r.returncode == 9, f"as pid 1: exit code propagates (rc {r.returncode})")
    p = subprocess.Popen(["unshare", "-fp", "--mount-proc", *argv(sys.executable, REPORTER)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(read_line(p) == "ready", "as pid 1: the command runs")
    init_pid = None
    with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
        kids = f.read().split()
    init_pid = int(kids[0]) if kids else None
    missed = []
    for s in COMMON:
        os.kill(init_pid, s)
        got = read_line(p)
        if got != str(int(s)):
            missed.append((int(s), got))
    os.kill(init_pid, signal.SIGUSR2)
    read_line(p)
    rc = p.wait(timeout=60)
    check(not missed and rc == 0, f"as pid 1: signals reach the command (missed {missed}, rc {rc})")

# --- tini's command line, the getopt way -------------------------------------------------
# tini reads TINI_VERBOSITY with atoi: junk, a sign, blanks and large numbers all start the
# command (a container must not fail to start over its verbosity).
if peers("uvreap", "tini"):
    for v in ("abc", "11", "-1", " 3", "x"):
        r = subprocess.run(argv("sh", "-c", "exit 5"), capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, TINI_VERBOSITY=v))
        check(r.returncode == 5, f"TINI_VERBOSITY={v!r}: the command runs (rc {r.returncode})")
    # Bundled flags and values attached to their flag, as getopt takes them.
    for extra, code, want in ((["-vvv", "-p", "SIGUSR1"], 0, 0), (["-sg"], 0, 0),
                              (["-sgw"], 0, 0), (["-e143"], 143, 0), (["-pSIGUSR1"], 4, 4),
                              (["-vve", "143"], 143, 0)):
        r = subprocess.run([BINARY, *extra, "--", "sh", "-c", f"exit {code}"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == want, f"{' '.join(extra)}: accepted (rc {r.returncode}, {r.stderr.strip()[:60]!r})")

# A signal blocked and pending when init starts is forwarded, never its default action on
# init itself (tini, with the same signals pending, runs the command to its end).
if peers("uvreap"):
    def pending_term():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGUSR1])
        os.kill(os.getpid(), signal.SIGUSR1)
    # Forwarded at once, it reaches the command before any handler of its own: the command
    # dies of it and init reports 128 + SIGUSR1 (init itself killed would give -SIGUSR1).
    r = subprocess.run(argv("sleep", "30"), capture_output=True, timeout=60,
                       preexec_fn=pending_term)
    check(r.returncode == 128 + signal.SIGUSR1,
          f"a signal pending at start is forwarded to the command (rc {r.returncode})")

# dumb-init's rewrite test: -r 1:31 -r 31:1 swaps SIGHUP and SIGSYS, so SIGSYS (a fault
# signal, not watched by default) is watched because -r names it.
if peers("uvreap", "dumb-init"):
    p = start_reporter(extra=["-r", "1:31", "-r", "31:1"])
    p.send_signal(signal.SIGSYS)
    got_sys = read_line(p)
    p.send_signal(signal.SIGHUP)
    got_hup = read_line(p)
    rc = finish(p)
    check(got_sys == str(int(signal.SIGHUP)) and got_hup == str(int(signal.SIGSYS)) and rc == 0,
          f"-r 1:31 -r 31:1: SIGSYS arrives as SIGHUP and back ({got_sys}, {got_hup}, rc {rc})")

# --- bad input ----------------------------------------------------------------------------
if peers("uvreap"):
    for bad in (["-e", "256"], ["-e", "x"], ["-e"], ["-p", "NOPE"], ["-p", "0"], ["-r", "15"],
                ["-r", "x:y"], ["-r", "15:99"], ["-r", "0:3"], ["-z"]):
        r = subprocess.run([BINARY, *bad, "--", "true"], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 2 and "uvreap-init:" in r.stderr and "usage:" in r.stderr,
              f"{' '.join(bad)}: refused, exit 2, message")
    r = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and r.stdout.startswith("uvreap-init "), "--version: exit 0")
    r = subprocess.run([BINARY, "sh", "-c", "exit 6"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 6, "a command without --")
    r = subprocess.run([BINARY, "-s", "-w", "-v", "-v", "--", "true"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "-s, -w, -v -v accepted")
    env = dict(os.environ, TINI_VERBOSITY="1")
    r = subprocess.run([BINARY, "--", "sh", "-c", "(sleep 0.1 &); sleep 1"], capture_output=True,
                       text=True, timeout=60, env=env)
    check("reaped orphan" in r.stderr, "TINI_VERBOSITY=1 reports orphans as -v does")
    r = subprocess.run([BINARY, "-w", "--", "sh", "-c", "(sleep 0.1 &); sleep 1"],
                       capture_output=True, text=True, timeout=60)
    check("reaped orphan" in r.stderr, "-w warns for each orphan reaped")
    env = dict(os.environ, UVREAP_INIT_VERBOSITY="1")
    r = subprocess.run([BINARY, "--", "sh", "-c", "(sleep 0.1 &); sleep 1"], capture_output=True,
                       text=True, timeout=60, env=env)
    check("reaped orphan" in r.stderr, "UVREAP_INIT_VERBOSITY=1 as TINI_VERBOSITY")
    env = dict(os.environ, UVREAP_INIT_KILL_PROCESS_GROUP="1", UVREAP_INIT_SUBREAPER="1",
               TINI_SUBREAPER="1")
    r = subprocess.run([BINARY, "--", sys.executable, "-c",
                        "import os; print(os.getpgid(0) == os.getpid())"],
                       capture_output=True, text=True, timeout=60, env=env)
    check(r.returncode == 0 and r.stdout.strip() == "True",
          "UVREAP_INIT_KILL_PROCESS_GROUP as TINI_KILL_PROCESS_GROUP; *_SUBREAPER accepted")
    for bad in (["-r", "9:1"], ["-r", "19:1"], ["-r", "17:1"], ["-r", "32:1"], ["-r", "33:1"]):
        r = subprocess.run([BINARY, *bad, "--", "true"], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 2 and "cannot be watched" in r.stderr,
              f"{' '.join(bad)}: a signal init cannot watch is refused, exit 2")
    env = dict(os.environ, TINI_KILL_PROCESS_GROUP="1")
    r = subprocess.run([BINARY, "--", sys.executable, "-c",
                        "import os; print(os.getpgid(0) == os.getpid())"],
                       capture_output=True, text=True, timeout=60, env=env)
    check(r.stdout.strip() == "True", "TINI_KILL_PROCESS_GROUP: the command leads its own group")

checks.finish()
