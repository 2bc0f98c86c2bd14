#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Terminal children through node-pty and through uvreap/pty, side by side in one run
# (bench/node/pty_bench.js): CPU and latency per child (spawn → first byte → exit), and
# threads and RSS with many alive. Builds the Node addon in release mode, and installs
# node-pty at the version bench/node/package-lock.json pins (npm builds it with
# node-gyp: python3, make and g++, and node's headers). Installs missing Debian packages
# first (node and its headers too, from Debian's nodejs, npm and libnode-dev, when no node
# is on PATH). Arguments go to pty_bench.js.
#
#   scripts/bench_pty.sh                              # 200 children x 5, 1,000 alive
#   scripts/bench_pty.sh --children 500 --repeat 7 --json out.json
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/deps.sh
extra=(python3 make g++)
command -v npm >/dev/null || extra+=(npm)
dir=$(build_release_with_node "${extra[@]}")

pty_node=bench/node/node_modules/node-pty/build/Release/pty.node
if [ ! -f "$pty_node" ]; then
  (cd bench/node && npm ci --no-audit --no-fund >/dev/null)
  if [ ! -f "$pty_node" ]; then
    # An npm that runs no install script until it is allowed (npm 11's allowScripts).
    (cd bench/node && { npm install-scripts approve node-pty >/dev/null 2>&1 || true; } &&
      npm rebuild node-pty >/dev/null)
  fi
fi
exec node bench/node/pty_bench.js --uvreap "$dir/node" --node-pty bench/node/node_modules/node-pty "$@"
