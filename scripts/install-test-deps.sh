#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (run as root). Idempotent, quiet and
# non-interactive:
#   - Chromium from Debian (only when /usr/bin/chromium is missing; never a downloaded browser)
#   - npm packages for tests/interop and bench/node-ws (`npm ci`, from the committed locks)
#   - a Python venv at .test-deps/venv with tests/interop/python/requirements.txt
#   - Autobahn's wstest under .test-deps/autobahn (scripts/autobahn.sh --install)
#   - coturn's test clients (tests/turn) and cargo-fuzz (scripts/fuzz-smoke.sh)
#   - redis-server and redis-cli for the Socket.IO Redis adapter tests (one server, and clusters)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
deps="$root/.test-deps"
mkdir -p "$deps"
export DEBIAN_FRONTEND=noninteractive

apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

[ -x /usr/bin/chromium ] || { echo "install-test-deps: chromium"; apt_install chromium; }
command -v openssl >/dev/null || apt_install openssl
# coturn's test clients (turnutils_*) for tests/turn; the packaged service is never started.
command -v turnutils_uclient >/dev/null || { echo "install-test-deps: coturn"; apt_install coturn; }
# redis-server for the Redis adapter's tests, which start private ones per run, and redis-cli
# (redis-tools) to join three of them into a Redis Cluster; the packaged service is never relied
# on.
command -v redis-server >/dev/null || { echo "install-test-deps: redis-server"; apt_install redis-server; }
command -v redis-cli >/dev/null || { echo "install-test-deps: redis-tools"; apt_install redis-tools; }

echo "install-test-deps: npm packages"
for dir in tests/interop bench/node-ws; do
  (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
done

echo "install-test-deps: python venv at $deps/venv"
[ -x "$deps/venv/bin/python" ] || python3 -m venv "$deps/venv"
"$deps/venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/interop/python/requirements.txt"

"$root/scripts/autobahn.sh" --install

command -v cargo-fuzz >/dev/null || { echo "install-test-deps: cargo-fuzz"; cargo install --locked --quiet cargo-fuzz; }
echo "install-test-deps: ready"
