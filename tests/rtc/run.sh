#!/usr/bin/env bash
# WebRTC through switchboard in headless Chromium (tests/rtc/rtc.test.mjs), inside a
# loopback-only network namespace so no candidate or relay can leave the machine:
# `switchboard serve --turn` (TURN REST secret, loopback peers allowed) serves the pages, the
# SDK, signaling at /rtc and the TURN relay.
#
# Needs SWITCHBOARD_BIN (the release binary), root (for `unshare -n`), /usr/bin/chromium and
# tests/interop/node_modules (scripts/install-test-deps.sh). Exits non-zero on any failure.
set -euo pipefail
: "${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN to the switchboard release binary}"
here="$(cd "$(dirname "$0")" && pwd)"
[ -x /usr/bin/chromium ] || { echo "rtc: /usr/bin/chromium missing (scripts/install-test-deps.sh)" >&2; exit 1; }
[ -d "$here/../interop/node_modules/playwright-core" ] || { echo "rtc: npm packages missing (scripts/install-test-deps.sh)" >&2; exit 1; }
if [ "${1:-}" != "--inside" ]; then
  exec timeout --kill-after=10 300 unshare -n bash "$0" --inside
fi
ip link set lo up

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$SWITCHBOARD_BIN" serve --listen 127.0.0.1:0 --log-level warn \
  --turn --turn-listen 127.0.0.1:3478 --turn-secret rtc-test-secret --turn-allow-loopback \
  --turn-relay-ip 127.0.0.1 --turn-relay-ports 50000-50999 --rtc-grace 10 \
  > "$work/ready" 2> "$work/log" &
server=$!
for _ in $(seq 100); do
  grep -q "listening on http" "$work/ready" 2>/dev/null && break
  sleep 0.05
done
url="$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/ready" | head -1)"
[ -n "$url" ] || { echo "rtc: the server did not start" >&2; cat "$work/log" >&2; exit 1; }
echo "rtc: switchboard at $url, TURN on 127.0.0.1:3478"
status=0
RTC_URL="$url" node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "$here"/*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---"; tail -30 "$work/log"
fi
exit "$status"
