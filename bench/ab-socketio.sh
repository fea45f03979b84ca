#!/usr/bin/env bash
# A/B of Socket.IO server binaries (builds of bench_server, or any server of the same
# application) under `switchboard bench --mode sio-echo`, alternated round by round so that a
# machine whose speed drifts slows both alike. Server on core 0, load generator on core 1.
# Prints, per run: messages per server CPU-second, and the server's user and kernel CPU per
# message in µs counted from /proc over the whole run (connection set-up included, unlike
# bench/report.py, which counts the measured window only).
# Usage: bench/ab-socketio.sh ROUNDS CONNECTIONS IN_FLIGHT SECONDS label=binary...
#   e.g. bench/ab-socketio.sh 8 1000 1 6 before=/tmp/bench_server.old after=target/release/examples/bench_server
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 5 ] || { sed -n '2,10p' "$0"; exit 2; }
rounds=$1 n=$2 k=$3 secs=$4; shift 4
cargo build --release --quiet -p switchboard
json=$(mktemp)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -f "$json"; }
trap cleanup EXIT
port=4500
for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    label=${spec%%=*} bin=${spec#*=}
    port=$((port + 1))
    taskset -c 0 "$bin" "127.0.0.1:$port" >/dev/null &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    taskset -c 1 target/release/switchboard bench --mode sio-echo --url "ws://127.0.0.1:$port/" \
      --server-pid "$pid" -d "$secs" -n "$n" -s 32 -k "$k" --ramp 256 --json > "$json"
    ticks=$(cut -d' ' -f14,15 "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    python3 - "$json" "$ticks" "$label" "$(getconf CLK_TCK)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
user, system = map(int, sys.argv[2].split())
hz, messages = int(sys.argv[4]), report["messages"]
per = lambda ticks: ticks / hz / messages * 1e6
print(f"{sys.argv[3]:10s} {report['messages_per_server_cpu_second'] / 1000:7.1f} k  "
      f"user {per(user):.3f} µs  kernel {per(system):.3f} µs")
PY
  done
done
