#!/usr/bin/env bash
# coturn's own clients against `switchboard turn`, inside a loopback-only network namespace
# (nothing can leave the machine):
#   - turnutils_stunclient: a Binding answered with the reflexive address;
#   - turnutils_uclient in client-to-client mode (-y) over UDP, TCP and TLS, with a static
#     user and with TURN REST credentials made from the shared secret (-W), over channels and
#     over Send indications, and against an external echo peer (turnutils_peer, -e): exit 0,
#     every message received, "Total lost packets 0";
#   - Chromium (tests/turn/chromium.mjs): two pages, relay-only, connect through switchboard's
#     TURN over UDP and TCP and exchange data-channel messages; a wrong password gives 401;
#   - refusals: a wrong password and an expired REST username cannot allocate; a relay to a
#     loopback peer is refused (403) by a server on the safe defaults, and nothing reaches it.
# Exact error codes for every refusal, and quota exceeded (486), are checked over real sockets
# by `cargo test -p switchboard-turn-tokio --test refusals`.
#
# Needs SWITCHBOARD_BIN (the release binary; this script builds nothing), root (for
# `unshare -n`) and coturn's tools (scripts/install-turn-deps.sh). Prints one line per check
# and a summary; exits non-zero on any failure.
set -euo pipefail
: "${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the switchboard release binary}"
[ -x "$SWITCHBOARD_BIN" ] || { echo "turn: $SWITCHBOARD_BIN is not executable" >&2; exit 1; }
for tool in turnutils_uclient turnutils_stunclient turnutils_peer openssl python3 timeout unshare ip; do
  command -v "$tool" >/dev/null || { echo "turn: $tool missing (scripts/install-turn-deps.sh)" >&2; exit 1; }
done
if [ "${1:-}" != "--inside" ]; then
  exec timeout --kill-after=10 600 unshare -n bash "$0" --inside
fi
ip link set lo up

work="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() { # name, then the command
  local name=$1; shift
  if "$@" > "$work/out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"; sed 's/^/       /' "$work/out"
  else
    failed=$((failed + 1)); echo "FAIL $name"; tail -15 "$work/out" | sed 's/^/       /'
  fi
}

# start NAME ARGS...: runs `switchboard turn ARGS` and waits (bounded) for its ready line.
start() {
  local name=$1; shift
  "$SWITCHBOARD_BIN" turn --log-level warn "$@" > "$work/$name.ready" 2> "$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q listening "$work/$name.ready" 2>/dev/null && { cat "$work/$name.ready"; return 0; }
    sleep 0.05
  done
  echo "turn: $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

# A throwaway certificate for TLS.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

secret="turn-rest-secret"
realm="switchboard.test"
# The server under test: loopback peers allowed (coturn's clients relay to each other on
# 127.0.0.1), legacy channel numbers for coturn's clients, no bandwidth cap.
start main --turn-listen 127.0.0.1:3478 --turn-tls-listen 127.0.0.1:5349 \
  --turn-tls-cert "$work/cert.pem" --turn-tls-key "$work/key.pem" \
  --turn-relay-ip 127.0.0.1 --turn-relay-ports 50000-50999 \
  --turn-user alice:alice-pw --turn-secret "$secret" --turn-realm "$realm" \
  --turn-allow-loopback --turn-legacy-channels --turn-bandwidth 0 \
  --turn-unauthenticated-rate 1000 --turn-max-allocations-per-user 100
main_pid="${pids[-1]}"
# A server on the safe defaults (loopback peers denied).
start strict --turn-listen 127.0.0.1:3479 --turn-no-tcp --turn-relay-ip 127.0.0.1 \
  --turn-relay-ports 51000-51099 --turn-user alice:alice-pw --turn-realm "$realm" \
  --turn-legacy-channels --turn-unauthenticated-rate 1000
strict_pid="${pids[-1]}"

# uclient_ok ARGS...: lossless relaying; prints the summary.
uclient_ok() {
  local rc=0
  timeout 120 turnutils_uclient "$@" 127.0.0.1 > "$work/uclient" 2>&1 || rc=$?
  local summary
  summary="$(grep -E "tot_send_msgs|Total lost packets" "$work/uclient" | tail -2 | tr '\n' ' ')"
  echo "exit $rc: $summary"
  [ "$rc" -eq 0 ] || { tail -5 "$work/uclient"; return 1; }
  local sent recv
  sent="$(sed -n 's/.*tot_send_msgs=\([0-9]*\).*/\1/p' "$work/uclient" | tail -1)"
  recv="$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' "$work/uclient" | tail -1)"
  [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$sent" = "$recv" ] || return 1
  grep -q "Total lost packets 0 " "$work/uclient"
}
# uclient_refused PATTERN ARGS...: no allocation or relay (non-zero exit), PATTERN in output.
uclient_refused() {
  local pattern=$1; shift
  local rc=0
  timeout 60 turnutils_uclient "$@" > "$work/uclient" 2>&1 || rc=$?
  grep -E "$pattern" "$work/uclient" | head -3
  [ "$rc" -ne 0 ] && grep -qE "$pattern" "$work/uclient"
}
stun_ok() {
  timeout 10 turnutils_stunclient 127.0.0.1 > "$work/stun" 2>&1 || true
  grep "reflexive addr" "$work/stun"
  grep -q "UDP reflexive addr: 127.0.0.1:" "$work/stun"
}
# A UDP peer on 127.0.0.1:3480 that records what reaches it.
udp_sink() {
  python3 - "$work/sink" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 3480))
s.settimeout(30)
n = 0
try:
    while True:
        s.recv(65536)
        n += 1
        open(sys.argv[1], "w").write(str(n))
except socket.timeout:
    pass
PY
  pids+=($!)
}
nothing_reached_sink() {
  local n; n="$(cat "$work/sink" 2>/dev/null || echo 0)"
  echo "datagrams at the peer: $n"
  [ "$n" -eq 0 ]
}

expired_user="$(( $(date +%s) - 60 )):bob"
expired_pass="$(printf '%s' "$expired_user" | openssl dgst -sha1 -hmac "$secret" -binary | base64)"

check "stunclient: Binding over UDP" stun_ok
check "uclient UDP, static user, channels (-y -m 10 -n 100)" uclient_ok -u alice -w alice-pw -y -m 10 -n 100
check "uclient UDP, static user, Send indications (-s)" uclient_ok -u alice -w alice-pw -y -s -m 5 -n 50
check "uclient TCP, static user, padded channels (-t)" uclient_ok -t -u alice -w alice-pw -y -m 10 -n 100
check "uclient UDP, REST shared secret (-W)" uclient_ok -u bob -W "$secret" -y -m 10 -n 100
# An external UDP echo peer (coturn's turnutils_peer): every message leaves through a relay
# socket and comes back into another (client-to-client traffic above stays inside the server).
turnutils_peer -L 127.0.0.1 -p 3482 > "$work/peer.log" 2>&1 &
pids+=($!)
check "uclient UDP, external echo peer through relay sockets (-e)" uclient_ok -u alice -w alice-pw -e 127.0.0.1 -r 3482 -m 10 -n 100
check "uclient TCP, external echo peer through relay sockets (-t -e)" uclient_ok -t -u alice -w alice-pw -e 127.0.0.1 -r 3482 -m 10 -n 100
check "uclient TCP, REST shared secret (-t -W)" uclient_ok -t -u bob -W "$secret" -y -m 10 -n 100
check "uclient TLS, static user (-t -S -p 5349)" uclient_ok -t -S -p 5349 -u alice -w alice-pw -y -m 5 -n 50
check "wrong password: allocation refused" \
  uclient_refused "Cannot complete Allocation|401" -u alice -w wrong -y -m 1 -n 5 127.0.0.1
check "expired REST username: allocation refused" \
  uclient_refused "Cannot complete Allocation|401" -u "$expired_user" -w "$expired_pass" -y -m 1 -n 5 127.0.0.1
udp_sink
check "relay to a loopback peer on safe defaults: 403, nothing relayed" \
  bash -c "$(declare -f uclient_refused); work='$work'; uclient_refused '403|Forbidden|cannot|Cannot' -p 3479 -u alice -w alice-pw -e 127.0.0.1 -r 3480 -m 1 -n 5 127.0.0.1"
check "  ... and the peer received nothing" nothing_reached_sink
# Chromium's WebRTC stack, relay-only, with switchboard's TURN inside `serve` as its only ICE
# server (tests/turn/chromium.mjs): data-channel messages both ways over UDP and TCP, and a
# wrong password refused with 401.
"$SWITCHBOARD_BIN" serve --listen 127.0.0.1:3000 --log-level warn --turn \
  --turn-listen 127.0.0.1:3490 --turn-no-tls --turn-relay-ip 127.0.0.1 \
  --turn-relay-ports 52000-52099 --turn-user carol:carol-pw --turn-realm "$realm" \
  --turn-allow-loopback > "$work/serve.ready" 2> "$work/serve.log" &
pids+=($!)
serve_pid="${pids[-1]}"
for _ in $(seq 100); do grep -q listening "$work/serve.ready" 2>/dev/null && break; sleep 0.05; done
chromium_relay() {
  timeout 150 node "$(dirname "$0")/chromium.mjs" http://127.0.0.1:3000 127.0.0.1:3490 carol carol-pw
}
if [ -x /usr/bin/chromium ] && [ -d "$(dirname "$0")/../interop/node_modules/playwright-core" ]; then
  check "chromium: relay-only data channels through switchboard (UDP, TCP, wrong password)" chromium_relay
elif [ -n "${SWITCHBOARD_INTEROP:-}" ]; then
  check "chromium: installed (scripts/install-test-deps.sh)" false
else
  echo "skip chromium: /usr/bin/chromium or tests/interop/node_modules missing"
fi
check "both switchboard turn servers and serve --turn still running" \
  kill -0 "$main_pid" "$strict_pid" "$serve_pid"
echo "turn: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
