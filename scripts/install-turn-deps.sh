#!/usr/bin/env bash
# Installs what tests/turn/run.sh and bench/turn.sh need, on Debian, as root: coturn's test
# clients (turnutils_uclient, turnutils_stunclient) and server (turnserver, benchmark only),
# and openssl. Idempotent: installs nothing that is present, and runs `apt-get update` only
# when apt does not know the package yet (or an install fails on stale lists). The packaged
# coturn service is never started: a policy-rc.d refuses service starts during the install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v turnutils_uclient >/dev/null || missing+=(coturn)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-turn-deps: ready (coturn $(dpkg-query -W -f='${Version}' coturn 2>/dev/null || echo '?'))"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "install-turn-deps: need root to install ${missing[*]}" >&2; exit 1; }

# Refuse every service start while installing (invoke-rc.d honours policy-rc.d), unless the
# machine already has a policy of its own, which is left alone.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=1
fi
cleanup() { [ -z "$own_policy" ] || rm -f "$policy"; }
trap cleanup EXIT

install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
known() { apt-cache show "$1" >/dev/null 2>&1; }

need_update=""
for pkg in "${missing[@]}"; do known "$pkg" || need_update=1; done
[ -z "$need_update" ] || apt-get update -qq >/dev/null
echo "install-turn-deps: installing ${missing[*]}"
if ! install "${missing[@]}"; then
  # Stale package lists (404s): refresh once and retry.
  apt-get update -qq >/dev/null
  install "${missing[@]}"
fi
command -v turnutils_uclient >/dev/null || { echo "install-turn-deps: turnutils_uclient still missing" >&2; exit 1; }
echo "install-turn-deps: ready"
