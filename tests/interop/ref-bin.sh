#!/usr/bin/env bash
# Stands in for the switchboard binary with the Node `ws` reference server
# (bench/node-ws/server.mjs), so the interop suites can be checked against a known-good peer:
#   SWITCHBOARD_BIN=tests/interop/ref-bin.sh tests/interop/run.sh
set -euo pipefail
[ "${1:-}" = serve ] || { echo "usage: ref-bin.sh serve [flags]" >&2; exit 2; }
shift
exec node "$(dirname "$0")/../../bench/node-ws/server.mjs" "$@"
