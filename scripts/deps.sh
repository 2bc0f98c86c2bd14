#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages named as arguments that are not installed yet.
# Sourced by the other scripts; does nothing when everything is present.
set -euo pipefail

ensure_packages() {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

BUILD_PACKAGES=(g++ meson ninja-build pkg-config libuv1-dev libboost-test-dev)
# The test run also drives the example programs (python3), builds the consumers (cmake)
# and the API reference (doxygen), runs uvreap-init's compatibility checks against the
# real tini and dumb-init, and the shutdown-walk test under valgrind (which sees libuv's
# own reads of freed memory; AddressSanitizer does not instrument libuv).
TEST_PACKAGES=(python3 cmake doxygen tini dumb-init valgrind)

# build-release with the Node addon (node and its headers from Debian when none is on
# PATH, plus `extra` packages): what the Node benchmarks run. Prints the build directory.
build_release_with_node() {
  local packages=("${BUILD_PACKAGES[@]}" "$@")
  command -v node >/dev/null || packages+=(nodejs libnode-dev)
  ensure_packages "${packages[@]}" >&2
  local dir=build-release
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=release -Dtests=disabled -Dbench=enabled -Dnode=enabled >/dev/null
  else
    meson setup --reconfigure "$dir" -Dnode=enabled >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  echo "$dir"
}
