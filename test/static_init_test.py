#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The static uvreap-init (-Dstatic_init=true) needs nothing from the image: it runs as the
only program of an empty chroot, beside one static command, and as PID 1 of a new pid
namespace, and gives back the command's status each time.
Usage: static_init_test.py UVREAP_INIT STATIC_CMD"""
import os
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish, skip, skip_all

init, cmd = sys.argv[1], sys.argv[2]
if os.geteuid() != 0:
    skip_all("chroot needs root")
if shutil.which("chroot") is None:
    skip_all("no chroot(8)")

root = tempfile.mkdtemp(prefix="uvreap-static-init-")
try:
    shutil.copy(init, os.path.join(root, "uvreap-init"))
    shutil.copy(cmd, os.path.join(root, "cmd"))
    check(sorted(os.listdir(root)) == ["cmd", "uvreap-init"],
          f"the chroot holds only uvreap-init and the command: {sorted(os.listdir(root))}")

    def run(*args, ns=False):
        argv = ["chroot", root, "/uvreap-init", "--", "/cmd", *args]
        if ns:
            argv = ["unshare", "--pid", "--fork", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    r = run("exit", "7")
    check(r.returncode == 7 and r.stdout.startswith("ppid "),
          f"in an empty chroot: the command's exit code comes back (7): rc {r.returncode}, "
          f"stdout {r.stdout!r}, stderr {r.stderr!r}")
    r = run("exit", "0")
    check(r.returncode == 0, f"exit 0 comes back as 0: rc {r.returncode}")
    r = run("signal", "15")
    check(r.returncode == 128 + 15,
          f"a command killed by SIGTERM comes back as 143: rc {r.returncode} {r.stderr!r}")

    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True,
                           text=True, timeout=60)
    if probe.returncode != 0:
        skip(f"a new pid namespace: unshare --pid fails here: {probe.stderr.strip()}")
    else:
        r = run("exit", "9", ns=True)
        check(r.returncode == 9 and r.stdout.strip() == "ppid 1",
              f"as PID 1 of a new pid namespace: the command's parent is pid 1 and its exit "
              f"code comes back (9): rc {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")
        r = run("signal", "9", ns=True)
        check(r.returncode == 128 + 9,
              f"as PID 1: a command killed by SIGKILL comes back as 137: rc {r.returncode}")
finally:
    shutil.rmtree(root)
finish()
