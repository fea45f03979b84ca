#!/usr/bin/env bash
# Interop tests against the release binary: Node's ws and Chromium (node --test), then
# Python's websockets (pytest). Needs SWITCHBOARD_BIN; scripts/install-test-deps.sh first.
set -euo pipefail
cd "$(dirname "$0")"
: "${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the switchboard binary}"
export SWITCHBOARD_BIN
status=0
echo "--- Node ws + Chromium"
node --test --test-concurrency=2 --test-reporter=dot node/ || status=1
echo "--- Python websockets"
../../.test-deps/venv/bin/python -m pytest -q python || status=1
exit $status
