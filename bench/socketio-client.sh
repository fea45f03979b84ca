#!/usr/bin/env bash
# Socket.IO clients side by side: switchboard's Rust client (crates/socketio-client, example
# client_bench) and Node's socket.io-client 4.8 (bench/node-socketio/client.mjs), each on core 1
# with one thread, against the same server (switchboard's bench_server on core 0), taking turns
# (the first client changes each round). Each run keeps IN_FLIGHT acknowledged echoes in flight
# on each of SOCKETS connections and reports echoes per client CPU-second.
#   ROUNDS=3 bench/socketio-client.sh [seconds] [sockets] [in_flight] [websocket|polling]
# Results are appended to bench/results-socketio-client.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}; sockets=${2:-100}; in_flight=${3:-1}; transport=${4:-websocket}
rounds=${ROUNDS:-3}
cargo build --release --quiet -p switchboard-socketio --example bench_server
cargo build --release --quiet -p switchboard-socketio-client --example client_bench
[ -d bench/node-socketio/node_modules/socket.io-client ] ||
  (cd bench/node-socketio && npm ci --no-audit --no-fund --loglevel=error)
out=bench/results-socketio-client.jsonl
port=3470
taskset -c 0 target/release/examples/bench_server 127.0.0.1:$port >/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done

clients=(rust node)
for r in $(seq 0 $((rounds - 1))); do
  for i in 0 1; do
    case "${clients[$(((r + i) % 2))]}" in
      rust) taskset -c 1 target/release/examples/client_bench "http://127.0.0.1:$port" \
              "$sockets" "$in_flight" "$secs" "$transport" ;;
      node) taskset -c 1 node bench/node-socketio/client.mjs "http://127.0.0.1:$port" \
              "$sockets" "$in_flight" "$secs" "$transport" ;;
    esac | tee -a "$out"
  done
done
