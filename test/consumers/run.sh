#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs uvreap into a temporary prefix, then builds and runs three consumers from
# outside the tree: a C program via pkg-config, a C++ program via CMake find_package,
# and one via meson (dependency() through pkg-config, then as a subproject fallback).
#   test/consumers/run.sh SOURCE_ROOT
set -euo pipefail
src=$(cd "$1" && pwd)
here="$src/test/consumers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

echo "== install into $prefix"
meson setup "$tmp/build" "$src" --prefix="$prefix" --buildtype=release \
  -Dtests=disabled -Dbench=enabled -Ddocs=disabled -Dnode=disabled >/dev/null
ninja -C "$tmp/build" >/dev/null
meson install -C "$tmp/build" --quiet
libdir=$(dirname "$(find "$prefix" -name 'libuvreap.so' | head -1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir"

echo "== installed programs run from the prefix with no environment (rpath)"
env -u LD_LIBRARY_PATH "$prefix/bin/uvreap-init" -- sh -c 'exit 5' && rc=0 || rc=$?
[ "$rc" -eq 5 ] || { echo "uvreap-init from the prefix exited $rc, not 5"; exit 1; }

echo "== uvreap-bench's helper is in libexec, not bin, and the installed bench finds it"
[ -x "$prefix/libexec/uvreap/uvreap-bench-child" ] || { echo "no libexec/uvreap/uvreap-bench-child"; exit 1; }
[ ! -e "$prefix/bin/uvreap-bench-child" ] || { echo "uvreap-bench-child is in bin/"; exit 1; }
env -u LD_LIBRARY_PATH "$prefix/bin/uvreap-bench" --children 20 --repeat 1 --strategies own \
  --deadline 300 >/dev/null

echo "== pkg-config (C++), as README says: c++, not cc"
mkdir "$tmp/pcxx"
# shellcheck disable=SC2046
c++ -std=c++20 -Wall -Werror -DCONSUMER="\"pkg-config\"" "$here/app.cpp" -o "$tmp/pcxx/app" \
  $(pkg-config --cflags --libs uvreap) -Wl,-rpath,"$(pkg-config --variable=libdir uvreap)"
env -u LD_LIBRARY_PATH "$tmp/pcxx/app"

echo "== pkg-config (C), as README says: PKG_CONFIG_PATH and an rpath to the libdir"
mkdir "$tmp/pc"
# shellcheck disable=SC2046
cc -std=gnu11 -Wall -Werror "$here/pkgconfig/app.c" -o "$tmp/pc/app" \
  $(pkg-config --cflags --libs uvreap) -Wl,-rpath,"$(pkg-config --variable=libdir uvreap)"
env -u LD_LIBRARY_PATH "$tmp/pc/app"

echo "== CMake find_package"
cp -r "$here/cmake" "$tmp/cmake-src"
cp "$here/app.cpp" "$tmp/cmake-src/"
cmake -S "$tmp/cmake-src" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
"$tmp/cmake-build/app"

echo "== meson dependency('uvreap') from the installed prefix"
cp -r "$here/meson" "$tmp/meson-src"
cp "$here/app.cpp" "$tmp/meson-src/"
meson setup "$tmp/meson-build" "$tmp/meson-src" >/dev/null
ninja -C "$tmp/meson-build" >/dev/null
"$tmp/meson-build/app"

echo "== meson subproject (override_dependency)"
mkdir "$tmp/meson-src/subprojects"
ln -s "$src" "$tmp/meson-src/subprojects/uvreap"
env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH \
  meson setup "$tmp/meson-sub" "$tmp/meson-src" --force-fallback-for=uvreap >/dev/null
ninja -C "$tmp/meson-sub" >/dev/null
env -u LD_LIBRARY_PATH "$tmp/meson-sub/app"

echo "consumers: all five built and ran"
