#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds uvreap and runs its test suite twice: a normal build (with the static
# uvreap-init), then one under AddressSanitizer + UndefinedBehaviorSanitizer; then the
# threads suite (spawn/watch from other threads) under ThreadSanitizer. Installs missing Debian packages first.
#
#   scripts/test.sh            # both builds
#   SUITES="unit reaper" scripts/test.sh   # only these meson suites
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

suite_args=()
for s in ${SUITES:-}; do suite_args+=(--suite "$s"); done

# UBSan reports are failures, not warnings.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# No suppressions: the threads suite is clean under TSan as it is.
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

passed=0
failed=0
skipped=0
run_build() {
  local dir=$1 mult=$2 suites=("${suite_args[@]}") target=""
  shift 2
  if [ "${1:-}" = "--only" ]; then
    suites=(--suite "$2")
    target=$3
    shift 3
  fi
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  else
    meson configure "$dir" "$@" >/dev/null
  fi
  local rc=0
  if [ -n "$target" ]; then
    # One suite of one binary: build just that, not the examples, bench and checks.
    ninja -C "$dir" "$target"
    meson test -C "$dir" --no-rebuild --print-errorlogs --timeout-multiplier "$mult" \
      "${suites[@]}" || rc=$?
  else
    ninja -C "$dir"
    meson test -C "$dir" --print-errorlogs --timeout-multiplier "$mult" "${suites[@]}" || rc=$?
  fi
  local log="$dir/meson-logs/testlog.json"
  local ok bad skip
  ok=$(grep -c '"result": "OK"' "$log" || true)
  bad=$(grep -vc '"result": "\(OK\|SKIP\)"' "$log" || true)
  # Skips: whole meson tests (exit 77), Boost cases whose precondition failed, and parts
  # of the example scripts that cannot run here (they print a line starting "skip").
  skip=$(grep -c '"result": "SKIP"' "$log" || true)
  skip=$((skip + $(grep -c 'is skipped because precondition failed' "$dir/meson-logs/testlog.txt" || true)))
  skip=$((skip + $(grep -c '^skip' "$dir/meson-logs/testlog.txt" || true)))
  passed=$((passed + ok))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
  [ "$rc" -eq 0 ] && [ "$bad" -eq 0 ]
}

status=0
echo "== build: debugoptimized"
run_build build 1 -Dtests=enabled -Dstatic_init=true || status=1
echo "== build: address,undefined sanitizers"
run_build build-sanitize 3 -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false || status=1
if [ -z "${SUITES:-}" ] || [[ " ${SUITES} " == *" threads "* ]]; then
  echo "== build: thread sanitizer (suite threads)"
  run_build build-tsan 3 --only threads test/uvreap-tests -Dtests=enabled -Dbench=disabled -Ddocs=disabled \
    -Db_sanitize=thread -Db_lundef=false || status=1
fi

echo "tests: ${passed} passed, ${skipped} skipped, ${failed} failed"
exit "$status"
