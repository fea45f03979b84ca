#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 20 s each) on the stable toolchain.
# Usage: scripts/fuzz-smoke.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --quiet
export RUSTC_BOOTSTRAP=1
for dir in fuzz crates/turn/fuzz crates/engineio/fuzz crates/socketio-parser/fuzz crates/socketio-redis/fuzz crates/socketio-client/fuzz; do
  [ -d "$dir/fuzz_targets" ] || continue
  for target in $(cd "$dir/.." && cargo fuzz list --fuzz-dir "$(basename "$dir")"); do
    echo "fuzz: $dir $target for ${seconds}s"
    (cd "$dir/.." && cargo fuzz run --fuzz-dir "$(basename "$dir")" "$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 3)
  done
done
