#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds uvreap-bench in release mode and runs it; arguments go to uvreap-bench.
# Installs missing Debian packages first (and gnuplot-nox when --plot is asked for).
#
#   scripts/bench.sh                                   # the default storm, table only
#   scripts/bench.sh --background 1000 --json out.json --plot cdf.png
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/deps.sh
packages=("${BUILD_PACKAGES[@]}")
for a in "$@"; do
  [ "$a" = "--plot" ] && packages+=(gnuplot-nox)
done
ensure_packages "${packages[@]}"

dir=build-release
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --buildtype=release -Dtests=disabled -Dbench=enabled >/dev/null
fi
ninja -C "$dir" >/dev/null
exec "$dir/bench/uvreap-bench" "$@"
