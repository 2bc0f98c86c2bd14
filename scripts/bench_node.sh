#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Node addon and uvreap-bench-child in release mode and runs bench/node/bench.js:
# child_process.spawn against the addon's pidfd and own policies, side by side in one run.
# Arguments go to bench.js. Installs missing Debian packages first (node and its headers
# too, from Debian's nodejs and libnode-dev, when no node is on PATH).
#
#   scripts/bench_node.sh                               # K = 0, 1,000, 10,000, 3 repetitions
#   scripts/bench_node.sh --background 1000 --repeat 5 --json out.json
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/deps.sh
dir=$(build_release_with_node)
exec node bench/node/bench.js --addon "$dir/node" --child "$dir/bench/uvreap-bench-child" "$@"
