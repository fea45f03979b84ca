#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (as root). Idempotent and quiet:
# Chromium (Debian's package), npm packages for the interop tests and the Node benchmark peer,
# a Python venv with websockets and pytest, Autobahn's wstest in a Python 2.7 venv, coturn's
# test clients (turnutils_uclient, turnutils_stunclient), and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
deps="$root/.test-deps"
mkdir -p "$deps"

apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

[ -x /usr/bin/chromium ] || { echo "installing chromium"; apt_install chromium; }
command -v openssl >/dev/null || apt_install openssl

echo "npm packages"
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd bench/node-ws && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "python venv"
[ -x "$deps/venv/bin/python" ] || python3 -m venv "$deps/venv"
"$deps/venv/bin/pip" install -q --disable-pip-version-check -r tests/interop/python/requirements.txt

if [ ! -x "$deps/autobahn/py27/bin/wstest" ]; then
  echo "autobahn testsuite (python 2.7)"
  py27="$(pyenv root 2>/dev/null)/versions/2.7.18/bin/python2.7"
  [ -x "$py27" ] || py27="$(command -v python2.7 || true)"
  [ -n "$py27" ] || { echo "no python2.7 interpreter for Autobahn" >&2; exit 1; }
  python3 -m venv "$deps/autobahn/tools"
  "$deps/autobahn/tools/bin/pip" install -q --disable-pip-version-check 'virtualenv<20.22'
  "$deps/autobahn/tools/bin/virtualenv" -q -p "$py27" "$deps/autobahn/py27"
  "$deps/autobahn/py27/bin/pip" install -q autobahntestsuite 2>&1 | grep -v DEPRECATION || true
  [ -x "$deps/autobahn/py27/bin/wstest" ] || { echo "wstest did not install" >&2; exit 1; }
fi

# coturn's test clients (turnutils_*); the packaged coturn service is never started here.
command -v turnutils_uclient >/dev/null || { echo "installing coturn (test clients)"; apt_install coturn; }

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz"; cargo install --locked --quiet cargo-fuzz; }
echo "test dependencies ready"
