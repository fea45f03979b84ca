#!/usr/bin/env bash
# coturn's own clients against `switchboard turn`, inside a loopback-only network namespace
# (nothing can leave the machine): turnutils_stunclient, turnutils_uclient in client-to-client
# mode with a static user and with a TURN REST username, and a wrong password that must fail.
# Needs SWITCHBOARD_BIN and coturn's tools (scripts/install-test-deps.sh).
set -euo pipefail
: "${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the switchboard binary}"
command -v turnutils_uclient >/dev/null || { echo "turnutils_uclient missing" >&2; exit 1; }
if [ "${1:-}" != "--inside" ]; then
  exec unshare -n bash "$0" --inside
fi
ip link set lo up

work="$(mktemp -d)"
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
passed=0
failed=0
check() { # name, then the command
  local name=$1; shift
  if "$@" > "$work/out" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; tail -5 "$work/out"; fi
}

secret="turn-rest-secret"
"$SWITCHBOARD_BIN" turn --listen 127.0.0.1:3478 --relay-ip 127.0.0.1 --relay-ports 50000-50999 \
  --user alice:alice-pw --secret "$secret" --realm switchboard.test \
  --allow-loopback --legacy-channels --bandwidth 0 --unauthenticated-rate 1000 \
  --max-allocations-per-user 100 --log-level warn > "$work/ready" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/ready" 2>/dev/null && break; sleep 0.05; done
grep -q listening "$work/ready" || { echo "switchboard turn did not start" >&2; exit 1; }

# Lossless client-to-client relaying: exit 0 and "Total lost packets 0" in the summary.
uclient_ok() {
  timeout 60 turnutils_uclient "$@" 127.0.0.1 > "$work/uclient" 2>&1 || { tail -5 "$work/uclient"; return 1; }
  grep -q "Total lost packets 0" "$work/uclient" || { grep -E "tot_|lost" "$work/uclient"; return 1; }
  grep -E "tot_send_msgs|Total lost" "$work/uclient" | tail -2
}
stun_ok() {
  timeout 10 turnutils_stunclient 127.0.0.1 > "$work/stun" 2>&1
  grep -q "UDP reflexive addr: 127.0.0.1:" "$work/stun"
}
expiry=$(( $(date +%s) + 3600 ))
rest_user="$expiry:bob"
rest_pass="$(printf '%s' "$rest_user" | openssl dgst -sha1 -hmac "$secret" -binary | base64)"
expired_user="$(( $(date +%s) - 60 )):bob"
expired_pass="$(printf '%s' "$expired_user" | openssl dgst -sha1 -hmac "$secret" -binary | base64)"

check "stunclient binding" stun_ok
check "uclient udp static user, channels" uclient_ok -u alice -w alice-pw -y -m 10 -n 100
check "uclient udp static user, send indications" uclient_ok -u alice -w alice-pw -y -m 5 -n 50 -s
check "uclient udp REST credentials" uclient_ok -u "$rest_user" -w "$rest_pass" -y -m 5 -n 50
check "wrong password is refused" bash -c "! timeout 30 turnutils_uclient -u alice -w wrong -y -m 1 -n 5 127.0.0.1"
check "expired REST username is refused" bash -c "! timeout 30 turnutils_uclient -u '$expired_user' -w '$expired_pass' -y -m 1 -n 5 127.0.0.1"
kill -0 "$pid" || { echo "switchboard turn died" >&2; failed=$((failed + 1)); }
echo "turn: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
