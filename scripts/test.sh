#!/usr/bin/env bash
# The one command that runs every test. On a fresh Debian machine (as root) it first installs
# what the tests need: Chromium, npm packages, a Python venv, cargo-fuzz, Autobahn.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

step() { printf '\n=== %s ===\n' "$*"; }

step "install test dependencies"
scripts/install-test-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build the release binary and the Socket.IO example servers for interop tests"
cargo build --release --quiet -p switchboard
cargo build --release --quiet -p switchboard-socketio --example conformance
cargo build --release --quiet -p switchboard-socketio-redis --example redis_server
export SWITCHBOARD_BIN="$root/target/release/switchboard"
export SOCKETIO_SERVER_BIN="$root/target/release/examples/conformance"
export SOCKETIO_REDIS_SERVER_BIN="$root/target/release/examples/redis_server"

step "fuzz targets (bounded)"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-20}"

step "Autobahn testsuite against /ws/echo (AUTOBAHN_CASES=all for every case)"
AUTOBAHN_STRICT=1 AUTOBAHN_CASES="${AUTOBAHN_CASES:-ci}" scripts/autobahn.sh

step "interop: Node ws and socket.io-client, Python websockets and python-socketio, Chromium, Node's Redis adapter"
SWITCHBOARD_REQUIRE_CHROMIUM=1 tests/interop/run.sh

step "TURN: coturn's turnutils clients against switchboard turn (loopback-only namespace)"
SWITCHBOARD_INTEROP=1 tests/turn/run.sh

step "WebRTC: calls, mesh, files, relay-only and reconnects in Chromium (loopback-only namespace)"
tests/rtc/run.sh

step "Rust unit, property, conformance and end-to-end tests"
SWITCHBOARD_INTEROP=1 cargo test --workspace --quiet
