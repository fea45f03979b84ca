#!/usr/bin/env bash
# Side-by-side Socket.IO benchmark on this machine: switchboard's Socket.IO (the bench_server
# example of switchboard-socketio), socketioxide (bench/peers/socketioxide-server) and Node's
# socket.io 4.8 (bench/node-socketio), each pinned to core 0, one thread each, running the same
# application; the load generator (`switchboard bench --mode sio-*`, WebSocket transport) on
# core 1; a fresh server process per scenario. Servers take turns scenario by scenario (and
# round by round), so that a machine whose speed drifts (a shared VM does) slows every server
# of a comparison alike; report.py takes each server's median over the rounds. Each round
# starts with the next server: a run leaves the kernel its TIME_WAIT sockets (10,000 after a
# broadcast) for the run after it, and no server should always come first.
# Usage: bench/socketio.sh [seconds-per-run] [servers...]
#   servers: switchboard socketioxide node-socketio (default: all)
#   MODES="echo broadcast idle polling" selects scenarios (default: all four)
#   ROUNDS=N runs every scenario N times per server (default 1)
# Appends each report as JSON to bench/results-socketio.jsonl;
# `python3 bench/report.py bench/results-socketio.jsonl` makes the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; shift || true
servers=("$@"); [ ${#servers[@]} -gt 0 ] || servers=(switchboard socketioxide node-socketio)
cargo build --release --quiet -p switchboard -p bench-socketioxide-server
cargo build --release --quiet -p switchboard-socketio --example bench_server
[ -d bench/node-socketio/node_modules ] || (cd bench/node-socketio && npm ci --no-audit --no-fund --loglevel=error)
bin=target/release
out=bench/results-socketio.jsonl
port=3400
pid=""

start() { # name -> sets pid, port
  port=$((port + 1))
  case "$1" in
    switchboard) taskset -c 0 $bin/examples/bench_server 127.0.0.1:$port >/dev/null & ;;
    socketioxide) taskset -c 0 $bin/bench-socketioxide-server 127.0.0.1:$port >/dev/null & ;;
    node-socketio) taskset -c 0 node bench/node-socketio/server.mjs $port >/dev/null & ;;
  esac
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.05; done
  echo "$1 did not start" >&2; return 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

run() { # name mode extra-args...
  local name=$1 mode=$2; shift 2
  start "$name"
  taskset -c 1 $bin/switchboard bench --label "$name" --mode "$mode" --url "ws://127.0.0.1:$port/" \
    --server-pid "$pid" -d "$secs" --json "$@" | tee -a "$out" || echo "$name $mode failed"
  stop
}

modes="${MODES:-echo broadcast idle polling}"
rounds="${ROUNDS:-1}"
each() { # mode args... : every round, every server, the first server changing each round
  local n=${#servers[@]}
  for r in $(seq 0 $((rounds - 1))); do
    for i in $(seq 0 $((n - 1))); do run "${servers[$(((r + i) % n))]}" "$@"; done
  done
}
if [[ " $modes " == *" echo "* ]]; then
  for n in 100 1000; do
    for k in 1 16; do each sio-echo -n "$n" -s 32 -k "$k" --ramp 256; done
  done
fi
if [[ " $modes " == *" broadcast "* ]]; then
  for k in 1 16; do each sio-broadcast -n 10000 -s 64 -k "$k" --ramp 256; done
fi
[[ " $modes " != *" idle "* ]] || each sio-idle -n 10000 --ramp 256
# Long-polling: 50 sockets, one keep-alive connection for GETs and one for POSTs each.
[[ " $modes " != *" polling "* ]] || each sio-polling -n 50 -s 32 -k 1 --ramp 64
