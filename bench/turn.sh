#!/usr/bin/env bash
# TURN relay efficiency, switchboard vs coturn, side by side on this machine, inside a
# loopback-only network namespace. Each server is pinned to core 0 (`taskset -c 0`), the load
# generator (coturn's turnutils_uclient, client-to-client over channels, UDP) to core 1.
#
# Two kinds of load, each at several levels (clients:messages:interval-ms):
#   c2c  (LEVELS)       turnutils_uclient -y: clients relay to each other through two
#                       allocations on the server (the usual relay-to-relay ICE pair);
#   peer (PEER_LEVELS)  clients relay to an external UDP echo peer (coturn's turnutils_peer on
#                       127.0.0.1:3480, core 1), so every message leaves and re-enters the server
#                       through a relay socket.
# For each it reports relayed messages (uclient's tot_recv_msgs), lost messages, the server's
# CPU time (utime+stime from /proc/PID/stat, before and after) and messages per server
# CPU-second. Then memory per allocation: server RSS with HOLD allocations open (uclient -h
# keeps them) minus RSS before, divided by HOLD.
#
#   SWITCHBOARD_BIN=target/release/switchboard bench/turn.sh
#   LEVELS="20:2000:5 50:2000:2" PEER_LEVELS="50:2000:1" HOLD=400 bench/turn.sh
#
# Needs root (unshare -n), turnserver and turnutils_uclient (scripts/install-turn-deps.sh).
set -euo pipefail
: "${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the switchboard release binary}"
for tool in turnserver turnutils_uclient turnutils_peer taskset unshare ip timeout; do
  command -v "$tool" >/dev/null || { echo "bench/turn: $tool missing" >&2; exit 1; }
done
if [ "${1:-}" != "--inside" ]; then
  exec timeout --kill-after=10 1800 unshare -n bash "$0" --inside
fi
ip link set lo up
LEVELS="${LEVELS:-50:4000:1 100:4000:1}"
PEER_LEVELS="${PEER_LEVELS:-50:4000:1 100:4000:1}"
HOLD="${HOLD:-400}"
MSG_LEN="${MSG_LEN:-100}"
tck="$(getconf CLK_TCK)"
work="$(mktemp -d)"
server_pid=""
load_pid=""
peer_pid=""
stop() { # kill, bounded wait
  local p
  for p in "$@"; do
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}
cleanup() { stop "$load_pid" "$server_pid" "$peer_pid"; rm -rf "$work"; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_server() {
  case "$1" in
    switchboard)
      taskset -c 0 "$SWITCHBOARD_BIN" turn --log-level error --turn-listen 127.0.0.1:3478 \
        --turn-no-tcp --turn-relay-ip 127.0.0.1 --turn-relay-ports 50000-65000 \
        --turn-user test:test --turn-realm example.org --turn-allow-loopback \
        --turn-legacy-channels --turn-bandwidth 0 --turn-unauthenticated-rate 100000 \
        --turn-max-allocations-per-user 100000 > "$work/server.out" 2>&1 &
      ;;
    coturn)
      taskset -c 0 turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 \
        --listening-port=3478 --lt-cred-mech --user=test:test --realm=example.org \
        --allow-loopback-peers --no-cli --no-tls --no-dtls --min-port=50000 --max-port=65000 \
        --log-file=stdout --simple-log > "$work/server.out" 2>&1 &
      ;;
  esac
  server_pid=$!
  # Ready when a STUN Binding is answered (bounded).
  for _ in $(seq 50); do
    timeout 1 turnutils_stunclient 127.0.0.1 2>/dev/null | grep -q "reflexive addr" && return 0
    sleep 0.1
  done
  echo "bench/turn: $1 did not start" >&2; tail "$work/server.out" >&2; exit 1
}

# The external peer: a UDP echo server on the load generator's core.
taskset -c 1 turnutils_peer -L 127.0.0.1 -p 3480 > "$work/peer.out" 2>&1 &
peer_pid=$!

# run_level SERVER MODE LEVEL: one uclient run, one result line.
run_level() {
  local server=$1 mode=$2 level=$3 m n z
  IFS=: read -r m n z <<< "$level"
  local target=(-y)
  [ "$mode" = peer ] && target=(-e 127.0.0.1 -r 3480)
  local before after
  before="$(cpu_ticks "$server_pid")"
  timeout 300 taskset -c 1 turnutils_uclient -u test -w test "${target[@]}" -c -m "$m" -n "$n" \
    -l "$MSG_LEN" -z "$z" 127.0.0.1 > "$work/uclient" 2>&1 || true
  after="$(cpu_ticks "$server_pid")"
  local recv lost cpu rate
  recv="$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' "$work/uclient" | tail -1)"
  lost="$(sed -n 's/.*Total lost packets \([0-9]*\).*/\1/p' "$work/uclient" | tail -1)"
  cpu="$(awk -v t=$((after - before)) -v hz="$tck" 'BEGIN {printf "%.2f", t / hz}')"
  rate="$(awk -v r="${recv:-0}" -v t=$((after - before)) -v hz="$tck" \
    'BEGIN {if (t > 0) printf "%.0f", r * hz / t; else print "n/a"}')"
  printf '%-12s %-5s %-10s %10s %6s %9s %12s\n' "$server" "$mode" "$level" "${recv:-?}" "${lost:-?}" "$cpu" "$rate"
}

printf '%-12s %-5s %-10s %10s %6s %9s %12s\n' server mode load relayed lost cpu_s msgs/cpu_s
for server in switchboard coturn; do
  start_server "$server"
  for level in $LEVELS; do run_level "$server" c2c "$level"; done
  for level in $PEER_LEVELS; do run_level "$server" peer "$level"; done
  # Memory per allocation: HOLD clients keep one allocation each (-c: no RTCP) after sending.
  rss0="$(rss_kb "$server_pid")"
  taskset -c 1 turnutils_uclient -u test -w test -y -c -h -m "$HOLD" -n 1 -z 1000 127.0.0.1 \
    > "$work/hold" 2>&1 &
  load_pid=$!
  sleep "${HOLD_WAIT:-8}"
  rss1="$(rss_kb "$server_pid")"
  stop "$load_pid"; load_pid=""
  awk -v a="$rss0" -v b="$rss1" -v h="$HOLD" -v s="$server" \
    'BEGIN {printf "%-12s memory: RSS %d KiB -> %d KiB with %d allocations: %.1f KiB per allocation\n", s, a, b, h, (b - a) / h}'
  stop "$server_pid"; server_pid=""
  sleep 1
done
