#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The npm tarball as a user gets it: `npm install --offline <tarball>` into an empty
project, with an empty npm cache, then the README's example. Once with the prebuild (no
build step), once built from the sources it carries (--build-from-source: node-gyp
against the running node's headers), and once with no addon at all (a clear error).
Usage: npm_package_test.py TARBALL EXAMPLE_JS VERSION"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

from checks import check, finish

tarball, example, version = (pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]),
                            sys.argv[3])
tag = subprocess.run(["node", "-p", "process.platform + '-' + process.arch"], check=True,
                     capture_output=True, text=True).stdout.strip()

with tarfile.open(tarball) as t:
    names = set(t.getnames())
    manifest = json.load(t.extractfile("package/package.json"))
check(manifest["version"] == version,
      f"package.json's version is meson's ({manifest['version']} vs {version})")
for need in [f"package/prebuilds/{tag}/uvreap.node", "package/binding.gyp", "package/install.js",
             "package/index.js", "package/index.d.ts", "package/src/lib/core.cpp",
             "package/src/include/uvreap/version.hpp", "package/src/node/src/addon.cpp"]:
    check(need in names, f"the tarball holds {need}")
check(not any("/test/" in n or n.endswith(".o") for n in names),
      "no tests or objects in the tarball")

work = pathlib.Path(tempfile.mkdtemp(prefix="uvreap-npm-"))
env = dict(os.environ, npm_config_cache=str(work / "cache"), npm_config_update_notifier="false",
           HOME=str(work / "home"))
env.pop("NODE_PATH", None)
env.pop("UVREAP_BUILD_FROM_SOURCE", None)


def project(name, **extra):
    d = work / name
    d.mkdir()
    (d / "package.json").write_text('{"name": "app", "version": "1.0.0", "private": true}\n')
    r = subprocess.run(["npm", "install", "--offline", "--no-audit", "--no-fund",
                        "--foreground-scripts", str(tarball)], cwd=d, env=dict(env, **extra),
                       capture_output=True, text=True, timeout=1200)
    check(r.returncode == 0, f"{name}: npm install --offline of the tarball: rc {r.returncode}" +
          ("" if r.returncode == 0 else f"\n{r.stdout}\n{r.stderr}"))
    shutil.copy(example, d / "hello.js")
    return d, r


def run_example(d, what):
    r = subprocess.run(["node", "hello.js"], cwd=d, env=env, capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0 and re.fullmatch(
        r"hello from the child\npid \d+: code 3, signal null, deadline false, \d+ us of CPU\n",
        r.stdout), f"{what}: the README's example runs: rc {r.returncode} {r.stdout!r} {r.stderr!r}")


def addon_path(d):
    return subprocess.run(["node", "-p", "require('uvreap').addonPath"], cwd=d, env=env,
                          capture_output=True, text=True, timeout=60).stdout.strip()


try:
    d, r = project("prebuilt")
    check("node-gyp" not in r.stdout + r.stderr, "with the prebuild: no build step ran")
    check(not (d / "node_modules/uvreap/build").exists(), "with the prebuild: no build/ folder")
    check(addon_path(d) == str(d / f"node_modules/uvreap/prebuilds/{tag}/uvreap.node"),
          f"the prebuild for {tag} is what loads: {addon_path(d)}")
    run_example(d, "prebuilt")

    # No addon that loads: require() says so, and how to build one.
    shutil.move(d / "node_modules/uvreap/prebuilds", work / "prebuilds-away")
    r = subprocess.run(["node", "-e", "require('uvreap')"], cwd=d, env=env, capture_output=True,
                       text=True, timeout=60)
    check(r.returncode != 0 and "no uvreap.node for" in r.stderr and
          "npm rebuild uvreap --build-from-source" in r.stderr,
          "without an addon require() fails saying how to build it")

    d, r = project("from-source", npm_config_build_from_source="true")
    check("building uvreap.node from src/ with node-gyp" in r.stderr + r.stdout,
          "--build-from-source: the install step builds")
    check(addon_path(d) == str(d / "node_modules/uvreap/build/Release/uvreap.node"),
          f"the addon built from the tarball's sources is what loads: {addon_path(d)}")
    check(not (work / "home" / ".cache" / "node-gyp").exists(),
          "node-gyp fetched no headers (it used the running node's)")
    run_example(d, "from source")
finally:
    shutil.rmtree(work)
finish()
