#!/usr/bin/env bash
# How far can a Socket.IO server go past socketioxide on this machine? Two ceilings, each run in
# turns with switchboard's and socketioxide's Socket.IO servers (the same application as
# bench/socketio.sh), each server on core 0, the generator on core 1, a fresh process per run:
# - MODE=echo (default): echo with ack (1 message in flight unless K says) beside a plain
#   WebSocket echo of same-sized messages with no Engine.IO or Socket.IO work at all
#   (`switchboard serve --workers 1`, /ws/echo). A server that did the Socket.IO work for free
#   would still make the same reads and writes.
# - MODE=broadcast: one sender to 10,000 sockets, 16 broadcasts in flight, beside
#   bench/peers/broadcast-floor, which answers the handshakes with fixed strings and relays each
#   frame, framed once, to every other connection: no parsing, no Socket.IO state, no locks;
#   and beside bench/peers/broadcast-floor-uring, the same relay with no task per connection,
#   its sends made by send(2) in a loop (broadcast-floor-send) or submitted to io_uring.
# Usage: bench/socketio-ceiling.sh [seconds-per-run]   (ROUNDS=N, default 3; MODE=broadcast;
# for echo, SOCKETS="100 1000" and K=messages in flight, default 1)
# Appends the reports to bench/results-socketio-ceiling.jsonl and prints the medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-8}"
rounds="${ROUNDS:-3}"
mode="${MODE:-echo}"
cargo build --release --quiet -p switchboard -p bench-socketioxide-server -p bench-broadcast-floor \
  -p bench-broadcast-floor-uring
cargo build --release --quiet -p switchboard-socketio --example bench_server
bin=target/release
out=bench/results-socketio-ceiling.jsonl
port=3500
pid=""
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

run() { # label sockets in-flight
  port=$((port + 1))
  local bench_mode=sio-echo size=32 url="ws://127.0.0.1:$port/"
  [ "$mode" = echo ] || { bench_mode=sio-broadcast; size=64; }
  case "$1" in
    switchboard) taskset -c 0 $bin/examples/bench_server 127.0.0.1:$port >/dev/null & ;;
    socketioxide) taskset -c 0 $bin/bench-socketioxide-server 127.0.0.1:$port >/dev/null & ;;
    plain-websocket)
      taskset -c 0 $bin/switchboard serve --workers 1 --listen 127.0.0.1:$port >/dev/null 2>&1 &
      bench_mode=echo url="ws://127.0.0.1:$port/ws/echo" ;;
    broadcast-floor) taskset -c 0 $bin/bench-broadcast-floor 127.0.0.1:$port >/dev/null & ;;
    broadcast-floor-uring)
      taskset -c 0 $bin/bench-broadcast-floor-uring 127.0.0.1:$port >/dev/null & ;;
    broadcast-floor-send)
      FLOOR_IO=send taskset -c 0 $bin/bench-broadcast-floor-uring 127.0.0.1:$port >/dev/null & ;;
  esac
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  taskset -c 1 $bin/switchboard bench --label "$1" --mode "$bench_mode" --url "$url" \
    --server-pid "$pid" -d "$secs" -n "$2" -s "$size" -k "$3" --ramp 256 --json >> "$out"
  stop
}

if [ "$mode" = echo ]; then
  sockets="${SOCKETS:-100 1000}" k="${K:-1}" ceiling=plain-websocket
else
  sockets=10000 k=16 ceiling="broadcast-floor broadcast-floor-send broadcast-floor-uring"
fi
start=0; [ -f "$out" ] && start=$(wc -l < "$out")
for n in $sockets; do
  for _ in $(seq "$rounds"); do
    for s in switchboard socketioxide $ceiling; do run "$s" "$n" "$k"; done
  done
done
tail -n +"$((start + 1))" "$out" | CEILING=$ceiling K=$k python3 -c '
import json, os, statistics, sys
ceilings, k = os.environ["CEILING"].split(), os.environ["K"]
runs = [json.loads(l) for l in sys.stdin if l.startswith("{")]
for n in sorted({r["connections"] for r in runs}):
    med = {}
    for label in ["switchboard", "socketioxide"] + ceilings:
        rates = [r["messages_per_server_cpu_second"] for r in runs
                 if r["label"] == label and r["connections"] == n]
        med[label] = statistics.median(rates)
        listed = ", ".join("%.0f" % (x / 1000) for x in rates)
        print("%d sockets, %s in flight, %s: median %.0f k msgs per server CPU-s (runs: %s)"
              % (n, k, label, med[label] / 1000, listed))
    sx, sb = med["socketioxide"], med["switchboard"]
    print("  switchboard / socketioxide: %.2fx" % (sb / sx))
    for ceiling in ceilings:
        top = med[ceiling]
        print("  ceiling (%s) / socketioxide: %.2fx; switchboard / ceiling: %.2f"
              % (ceiling, top / sx, sb / top))
'
