#!/usr/bin/env bash
# Runs the Autobahn testsuite's fuzzingclient (wstest, Python 2.7) against a WebSocket echo URL
# and fails on any FAILED or missing case. wstest exits 0 even when the server died mid-run, so
# scripts/autobahn_check.py compares the cases in index.json with the ones selected.
#
#   scripts/autobahn.sh ws://127.0.0.1:3000/ws/echo   test a running server
#   scripts/autobahn.sh                               start $SWITCHBOARD_BIN serve (default
#                                                     target/release/switchboard), test /ws/echo
#   scripts/autobahn.sh --install                     only set wstest up
#
#   AUTOBAHN_CASES   comma-separated case patterns, or a JSON list; default: sections 1-7, 9, 10,
#                    12 and 13 (all 517 cases, ~14 min). `ci`: sections 1-7, 9 and 10 whole and
#                    the first four cases of every 12.x and 13.x group (349 cases, ~1 min).
#   AUTOBAHN_STRICT  set to 1 to fail on NON-STRICT cases too.
# Reports: .test-deps/autobahn/reports (index.html, index.json). wstest is cached under
# .test-deps/autobahn (tools/: a venv with virtualenv; py27/: wstest's Python 2.7 venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ab="$root/.test-deps/autobahn"
wstest="$ab/py27/bin/wstest"

install_wstest() {
  [ -x "$wstest" ] && return
  echo "autobahn: installing wstest under $ab"
  local py27
  py27="$(pyenv root 2>/dev/null || echo /nonexistent)/versions/2.7.18/bin/python2.7"
  [ -x "$py27" ] || py27="$(command -v python2.7 || true)"
  [ -n "$py27" ] || { echo "autobahn: no Python 2.7 interpreter (pyenv 2.7.18 or python2.7)" >&2; exit 1; }
  mkdir -p "$ab"
  python3 -m venv "$ab/tools"
  "$ab/tools/bin/pip" install -q --disable-pip-version-check 'virtualenv<20.22'
  "$ab/tools/bin/virtualenv" -q -p "$py27" "$ab/py27"
  "$ab/py27/bin/pip" install -q --disable-pip-version-check autobahntestsuite 2>&1 | grep -v DEPRECATION || true
  [ -x "$wstest" ] || { echo "autobahn: wstest did not install" >&2; exit 1; }
}

install_wstest
[ "${1:-}" = --install ] && exit 0

case "${AUTOBAHN_CASES:-}" in
  '') cases='["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.*","10.*","12.*","13.*"]' ;;
  ci) cases="$(python3 -c 'import json; print(json.dumps(
        [f"{s}.*" for s in (1, 2, 3, 4, 5, 6, 7, 9, 10)]
        + [f"{s}.{g}.{n}" for s, groups in ((12, 5), (13, 7)) for g in range(1, groups + 1) for n in range(1, 5)]))')" ;;
  \[*) cases="$AUTOBAHN_CASES" ;;
  *) cases="$(python3 -c 'import json, sys; print(json.dumps([c.strip() for c in sys.argv[1].split(",") if c.strip()]))' "$AUTOBAHN_CASES")" ;;
esac

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

url="${1:-}"
if [ -z "$url" ]; then
  bin="${SWITCHBOARD_BIN:-$root/target/release/switchboard}"
  SWITCHBOARD_LOG="${SWITCHBOARD_LOG:-error}" "$bin" serve --listen 127.0.0.1:0 > "$work/ready" &
  server_pid=$!
  for _ in $(seq 200); do grep -q 'listening on' "$work/ready" 2>/dev/null && break; sleep 0.05; done
  port="$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/ready" | head -1)"
  [ -n "$port" ] || { echo "autobahn: $bin did not start" >&2; exit 1; }
  url="ws://127.0.0.1:$port/ws/echo"
fi

reports="$ab/reports"
rm -rf "$reports"
mkdir -p "$reports"
cat > "$work/spec.json" <<JSON
{"outdir": "$reports", "servers": [{"agent": "server", "url": "$url"}],
 "cases": $cases, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
# The cases this spec selects, by wstest's own case list.
"$ab/py27/bin/python" - "$work/spec.json" > "$work/expected.json" <<'PY'
import json, sys
from autobahntestsuite.case import Cases, CaseSetname, CaseBasename, CaseCategories, CaseSubCategories
from autobahntestsuite.caseset import CaseSet
cases = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
print(json.dumps(cases.parseSpecCases(json.load(open(sys.argv[1])))))
PY

echo "autobahn: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/expected.json") cases against $url"
if ! (cd "$work" && timeout 3600 "$wstest" -m fuzzingclient -s spec.json > wstest.log 2>&1); then
  tail -20 "$work/wstest.log"
  echo "autobahn: wstest failed" >&2
  exit 1
fi
if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
  echo "autobahn: the server died during the run" >&2
  exit 1
fi
strict=()
[ "${AUTOBAHN_STRICT:-}" != 1 ] || strict=(--strict)
python3 "$root/scripts/autobahn_check.py" "$reports/index.json" "$work/expected.json" "${strict[@]}"
echo "autobahn: reports in $reports/index.html"
