#!/usr/bin/env bash
# How far can Socket.IO echo at 1 message in flight go past socketioxide on this machine? This
# runs, in turns, switchboard's and socketioxide's Socket.IO echo with ack (as bench/socketio.sh
# does) and a plain WebSocket echo of same-sized messages with no Engine.IO or Socket.IO work at
# all (`switchboard serve --workers 1`, /ws/echo). The plain echo is a ceiling for any Socket.IO
# server here: a server that did the Socket.IO work for free would still make the same reads
# and writes. Each server on core 0, the generator on core 1, a fresh process per run.
# Usage: bench/socketio-ceiling.sh [seconds-per-run]   (ROUNDS=N, default 3; SOCKETS="100 1000")
# Appends the reports to bench/results-socketio-ceiling.jsonl and prints the medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-8}"
rounds="${ROUNDS:-3}"
cargo build --release --quiet -p switchboard -p bench-socketioxide-server
cargo build --release --quiet -p switchboard-socketio --example bench_server
bin=target/release
out=bench/results-socketio-ceiling.jsonl
port=3500
pid=""
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

run() { # label sockets
  port=$((port + 1))
  local mode=sio-echo url="ws://127.0.0.1:$port/"
  case "$1" in
    switchboard) taskset -c 0 $bin/examples/bench_server 127.0.0.1:$port >/dev/null & ;;
    socketioxide) taskset -c 0 $bin/bench-socketioxide-server 127.0.0.1:$port >/dev/null & ;;
    plain-websocket)
      taskset -c 0 $bin/switchboard serve --workers 1 --listen 127.0.0.1:$port >/dev/null 2>&1 &
      mode=echo url="ws://127.0.0.1:$port/ws/echo" ;;
  esac
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  taskset -c 1 $bin/switchboard bench --label "$1" --mode "$mode" --url "$url" \
    --server-pid "$pid" -d "$secs" -n "$2" -s 32 -k 1 --ramp 256 --json >> "$out"
  stop
}

start=0; [ -f "$out" ] && start=$(wc -l < "$out")
for n in ${SOCKETS:-100 1000}; do
  for _ in $(seq "$rounds"); do
    for s in switchboard socketioxide plain-websocket; do run "$s" "$n"; done
  done
done
tail -n +"$((start + 1))" "$out" | python3 -c '
import json, statistics, sys
runs = [json.loads(l) for l in sys.stdin if l.startswith("{")]
for n in sorted({r["connections"] for r in runs}):
    med = {}
    for label in ("switchboard", "socketioxide", "plain-websocket"):
        rates = [r["messages_per_server_cpu_second"] for r in runs
                 if r["label"] == label and r["connections"] == n]
        med[label] = statistics.median(rates)
        listed = ", ".join("%.0f" % (x / 1000) for x in rates)
        print("%d sockets, 1 in flight, %s: median %.0f k msgs per server CPU-s (runs: %s)"
              % (n, label, med[label] / 1000, listed))
    sx, sb, ws = med["socketioxide"], med["switchboard"], med["plain-websocket"]
    print("  ceiling (plain WebSocket echo) / socketioxide: %.2fx; switchboard / socketioxide:"
          " %.2fx; switchboard / ceiling: %.2f" % (ws / sx, sb / sx, sb / ws))
'
