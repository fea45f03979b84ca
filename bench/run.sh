#!/usr/bin/env bash
# Side-by-side WebSocket benchmark on this machine: each server pinned to core 0, the load
# generator (`switchboard bench`) to core 1, a fresh server process per scenario.
# Usage: bench/run.sh [seconds-per-run] [servers...]
#   servers: switchboard tungstenite fastwebsockets node-ws (default: all)
#   MODES="echo broadcast idle" selects scenarios (default: all three)
# Prints each report and appends it as JSON to bench/results.jsonl;
# `python3 bench/report.py bench/results.jsonl` turns that into the tables of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; shift || true
servers=("$@"); [ ${#servers[@]} -gt 0 ] || servers=(switchboard tungstenite fastwebsockets node-ws)
cargo build --release --quiet -p switchboard -p bench-tungstenite-server -p bench-fastwebsockets-server
bin=target/release
port=3300
pid=""

start() { # name -> sets pid, port
  port=$((port + 1))
  case "$1" in
    switchboard) taskset -c 0 $bin/switchboard serve --listen 127.0.0.1:$port --log-level error --no-deflate --ping-interval 0 >/dev/null & ;;
    tungstenite) taskset -c 0 $bin/bench-tungstenite-server --listen 127.0.0.1:$port >/dev/null & ;;
    fastwebsockets) taskset -c 0 $bin/bench-fastwebsockets-server --listen 127.0.0.1:$port >/dev/null & ;;
    node-ws) taskset -c 0 node bench/node-ws/server.mjs --listen 127.0.0.1:$port >/dev/null & ;;
  esac
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.05; done
  echo "$1 did not start" >&2; return 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

run() { # name mode path extra-args...
  local name=$1 mode=$2 path=$3; shift 3
  start "$name"
  taskset -c 1 $bin/switchboard bench --label "$name" --mode "$mode" --url "ws://127.0.0.1:$port$path" \
    --server-pid "$pid" -d "$secs" --json "$@" | tee -a bench/results.jsonl || echo "$name $mode failed"
  stop
}

modes="${MODES:-echo broadcast idle}"
for s in "${servers[@]}"; do
  if [[ " $modes " == *" echo "* ]]; then
    for size in 32 4096; do
      for k in 1 16; do run "$s" echo /ws/echo -n 100 -s "$size" -k "$k"; done
    done
    run "$s" echo /ws/echo -n 1000 -s 32 -k 1
  fi
  if [[ " $modes " == *" broadcast "* && "$s" != fastwebsockets ]]; then
    for k in 1 16; do run "$s" broadcast /ws -n 10000 -s 64 -k "$k" --ramp 256; done
  fi
  [[ " $modes " != *" idle "* ]] || run "$s" idle /ws/echo -n 10000 --ramp 256
done
