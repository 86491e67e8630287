#!/usr/bin/env bash
# Builds tenge (release) and runs a local devnet: 4 validators and 1 observer as separate
# processes on loopback, the two banks funded. Ctrl-C stops it. State lives in ./devnet
# (delete the directory for a fresh network).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prerequisites.sh
cargo build --release --workspace --locked --bins
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/tenge" devnet up --dir devnet "$@"
