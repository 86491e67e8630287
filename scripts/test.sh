#!/usr/bin/env bash
# The whole test suite of tenge: what CI runs (via .ci/run) and what the README tells you to run.
#
# Needs the Rust toolchain and libclang (RocksDB's bindings are generated with bindgen). On
# Debian/Ubuntu the script installs libclang-dev itself when run as root, or through sudo.
# Everything is built once, in the release profile: tests, the simulator and benchmarks share
# it, because a second profile would compile RocksDB's C++ a second time.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "build prerequisites"
bash scripts/prerequisites.sh
echo "libclang: ok"

step "prerequisites script against other machine states (scripts/test-prerequisites.sh)"
bash scripts/test-prerequisites.sh

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "pure cores do not depend on tokio, libp2p or rocksdb"
bash scripts/check-pure-cores.sh

step "lints (cargo clippy, release profile)"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

step "build (release profile: binaries for the multi-process tests)"
cargo build --release --workspace --locked

step "packaging (packaging/check.sh: systemd units, Containerfile, compose; compose's nodes on loopback)"
bash packaging/check.sh

step "tests (cargo test, release profile)"
# The network-namespace fault suite (tests/faults) needs nft; as root it is installed here, else
# that suite prints why it skips.
if ! command -v nft >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null || echo "nftables not installed: the fault suite will skip"
fi
cargo test --release --workspace --locked

if [ -f crates/sim/regressions.txt ]; then
    step "simulator"
    bash scripts/sim-ci.sh
fi

printf '\nall checks passed in %d s\n' $((SECONDS - started))
