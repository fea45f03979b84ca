#!/usr/bin/env bash
# Broadcast across a two-server Socket.IO cluster on Redis, switchboard's against Node's: a
# sender on server A emits `broadcast`; A publishes it to Redis; server B, holding every
# receiver, gets it from Redis and delivers it to its sockets. Each kind of server forms its own
# cluster (switchboard: the redis_server example of switchboard-socketio-redis; Node: socket.io
# 4.8 with @socket.io/redis-adapter 8.3 from bench/node-socketio), on a private redis-server.
# Server B, measured (deliveries per B CPU-second), runs alone on core 0; server A, Redis and
# the load generator share core 1. The kinds take turns round by round; fresh processes per run.
# Usage: bench/socketio-redis.sh [seconds-per-run]   (ROUNDS=N, default 3; N=receivers, default
# 10000; K=broadcasts in flight, default 16; SHARDED=static|dynamic|dynamic-private for both
# kinds on the sharded adapter, createShardedAdapter, instead of the classic one; STREAMS=1 for
# both on the streams adapter, @socket.io/redis-streams-adapter, with connection-state recovery;
# CLUSTER=1 for a Redis Cluster of three primaries, all on core 1, instead of one redis-server)
# Appends the reports to bench/results-socketio-redis.jsonl and prints the medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-8}"
rounds="${ROUNDS:-3}"
receivers="${N:-10000}"
k="${K:-16}"
sharded="${SHARDED:-}"
streams="${STREAMS:-}"
cluster="${CLUSTER:-}"
# The redis_server example's third argument: a subscription mode, or `streams`.
if [ -n "$sharded" ] && [ -n "$streams" ]; then echo "SHARDED and STREAMS are two adapters: set one" >&2; exit 2; fi
variant="$sharded"; [ -n "$streams" ] && variant=streams
cargo build --release --quiet -p switchboard
cargo build --release --quiet -p switchboard-socketio-redis --example redis_server
[ -d bench/node-socketio/node_modules/@socket.io/redis-streams-adapter ] ||
  (cd bench/node-socketio && npm ci --no-audit --no-fund --loglevel=error)
bin=target/release
out=bench/results-socketio-redis.jsonl
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_dir=$(mktemp -d)
redis_pids=()
redis_urls=()
for _ in $(seq $([ -n "$cluster" ] && echo 3 || echo 1)); do
  redis_port=$(free_port)
  taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$redis_dir" ${cluster:+--cluster-enabled yes --cluster-port "$(free_port)" --cluster-config-file "$redis_dir/nodes-$redis_port.conf"} \
    >/dev/null &
  redis_pids+=($!)
  redis_urls+=("redis://127.0.0.1:$redis_port")
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$redis_port) 2>/dev/null && break; sleep 0.05; done
done
pids=()
stop_servers() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop_servers; kill "${redis_pids[@]}" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
if [ -n "$cluster" ]; then
  redis-cli --cluster create "${redis_urls[@]#redis://}" --cluster-replicas 0 --cluster-yes >/dev/null
  for url in "${redis_urls[@]}"; do
    until redis-cli -u "$url" cluster info | grep -q cluster_state:ok; do sleep 0.05; done
  done
fi
redis_url=$(IFS=,; echo "${redis_urls[*]}")

port=3600
start() { # kind core -> echoes "pid port"
  port=$((port + 1))
  case "$1" in
    switchboard) taskset -c "$2" $bin/examples/redis_server 127.0.0.1:$port "$redis_url" $variant >/dev/null & ;;
    node-socketio) REDIS_URL="$redis_url" REDIS_SHARDED="$sharded" REDIS_STREAMS="$streams" taskset -c "$2" node bench/node-socketio/server.mjs $port >/dev/null & ;;
  esac
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  last_pid=$pid last_port=$port
}

run() { # kind
  start "$1" 0; local b_pid=$last_pid b_port=$last_port
  start "$1" 1; local a_port=$last_port
  taskset -c 1 $bin/switchboard bench --label "$1${sharded:+ sharded-$sharded}${streams:+ streams}${cluster:+ cluster}" --mode sio-broadcast \
    --url "ws://127.0.0.1:$b_port/" --sender-url "ws://127.0.0.1:$a_port/" \
    --server-pid "$b_pid" -d "$secs" -n "$receivers" -s 64 -k "$k" --ramp 256 --json >> "$out" ||
    echo "$1 failed" >&2
  stop_servers
}

start_line=0; [ -f "$out" ] && start_line=$(wc -l < "$out")
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="switchboard node-socketio"; else order="node-socketio switchboard"; fi
  for kind in $order; do run "$kind"; done
done
tail -n +"$((start_line + 1))" "$out" | python3 -c '
import json, statistics, sys
runs = [json.loads(l) for l in sys.stdin if l.startswith("{")]
med = {}
for label in ("switchboard", "node-socketio"):
    rows = [r for r in runs if r["label"].split(" ")[0] == label]
    rates = [r["messages_per_server_cpu_second"] for r in rows]
    med[label] = statistics.median(rates)
    print("%s: median %.0f k deliveries per receiving-server CPU-s (runs: %s); p50 %s us, p99 %s us"
          % (label, med[label] / 1000, ", ".join("%.0f" % (x / 1000) for x in rates),
             [r.get("p50_us") for r in rows], [r.get("p99_us") for r in rows]))
print("switchboard / node: %.2fx" % (med["switchboard"] / med["node-socketio"]))
'
