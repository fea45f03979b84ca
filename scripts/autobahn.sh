#!/usr/bin/env bash
# Runs the Autobahn testsuite (wstest fuzzingclient) against `switchboard serve`'s /ws/echo and
# fails unless every case ran and came out OK (INFORMATIONAL and UNIMPLEMENTED pass; NON-STRICT
# and FAILED do not). wstest exits 0 even when the server dies, so the case count is checked.
#   AUTOBAHN_CASES   `all` (default: all 517 cases, ~10 min), `ci` (sections 1-7, 9 and 10 whole,
#                    and the first four cases of every 12.x and 13.x compression group: 349
#                    cases, ~40 s), or a JSON list of case patterns
#   SWITCHBOARD_BIN  the server binary (default: target/release/switchboard)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
bin="${SWITCHBOARD_BIN:-$root/target/release/switchboard}"
wstest="$root/.test-deps/autobahn/py27/bin/wstest"
[ -x "$wstest" ] || { echo "wstest missing: run scripts/install-test-deps.sh" >&2; exit 1; }
case "${AUTOBAHN_CASES:-all}" in
  all) cases='["*"]' ;;
  ci) cases="$(python3 -c 'import json; print(json.dumps(
        [f"{s}.*" for s in (1, 2, 3, 4, 5, 6, 7, 9, 10)]
        + [f"{s}.{g}.{n}" for s, groups in ((12, 5), (13, 7)) for g in range(1, groups + 1) for n in range(1, 5)]))')" ;;
  *) cases="$AUTOBAHN_CASES" ;;
esac
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" serve --listen 127.0.0.1:0 --log-level error > "$work/ready" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/ready" 2>/dev/null && break; sleep 0.05; done
port="$(grep -o '[0-9]*$' "$work/ready")"
reports="$root/.test-deps/autobahn/reports"
rm -rf "$reports"
cat > "$work/spec.json" <<JSON
{"outdir": "$reports", "servers": [{"agent": "switchboard", "url": "ws://127.0.0.1:$port/ws/echo"}],
 "cases": $cases, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
echo "autobahn: cases $cases against ws://127.0.0.1:$port/ws/echo"
(cd "$work" && timeout 1800 "$wstest" -m fuzzingclient -s spec.json > wstest.log 2>&1) || {
  tail -20 "$work/wstest.log"; echo "wstest failed" >&2; exit 1; }
kill -0 "$server_pid" || { echo "the server died during the run" >&2; exit 1; }
python3 - "$reports/index.json" "$cases" <<'PY'
import collections, fnmatch, json, sys
index = json.load(open(sys.argv[1]))["switchboard"]
patterns = json.loads(sys.argv[2])
expected_all = 517
counts = collections.Counter()
bad = []
for case, result in sorted(index.items()):
    outcome = result["behavior"], result["behaviorClose"]
    counts[outcome[0]] += 1
    if any(o not in ("OK", "INFORMATIONAL", "UNIMPLEMENTED") for o in outcome):
        bad.append(f"{case}: {outcome}")
print("autobahn:", len(index), "cases;", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
if patterns == ["*"] and len(index) != expected_all:
    bad.append(f"only {len(index)} of {expected_all} cases have results")
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
