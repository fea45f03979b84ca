#!/usr/bin/env bash
# Interop suites against $SWITCHBOARD_BIN: Node's ws and Chromium (node --test), then Python's
# websockets (pytest). Run scripts/install-test-deps.sh first.
#   SWITCHBOARD_BIN=target/release/switchboard tests/interop/run.sh
#   SWITCHBOARD_BIN=tests/interop/ref-bin.sh tests/interop/run.sh   # the Node ws reference
# INTEROP_CONCURRENCY sets how many test files run at once (default 2, for 2 cores).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
: "${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the switchboard binary}"
case "$SWITCHBOARD_BIN" in /*) ;; *) SWITCHBOARD_BIN="$(pwd)/$SWITCHBOARD_BIN" ;; esac
export SWITCHBOARD_BIN
python="${INTEROP_PYTHON:-$root/.test-deps/venv/bin/python}"
[ -d "$here/node_modules/ws" ] || { echo "npm packages missing: run scripts/install-test-deps.sh" >&2; exit 1; }
[ -x "$python" ] || { echo "$python missing: run scripts/install-test-deps.sh" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$here"

echo "=== Node ws + Chromium against $SWITCHBOARD_BIN"
node --test --test-concurrency="${INTEROP_CONCURRENCY:-2}" --test-timeout=180000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$work/node.tap" \
  node/*.test.mjs
node_status=$?

echo "=== Python websockets against $SWITCHBOARD_BIN"
PYTHONDONTWRITEBYTECODE=1 "$python" -m pytest -q -rfE python 2>&1 | tee "$work/pytest.log"
python_status=${PIPESTATUS[0]}

count() { sed -n "s/^# $1 //p" "$work/node.tap" | tail -1; }
echo
echo "=== interop summary"
echo "node:   $(count pass) passed, $(count fail) failed, $(count skipped) skipped (exit $node_status)"
echo "python: $(grep -E '(passed|failed|error)' "$work/pytest.log" | tail -1) (exit $python_status)"
[ "$node_status" -eq 0 ] && [ "$python_status" -eq 0 ]
