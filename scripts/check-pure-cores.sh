#!/usr/bin/env bash
# The pure cores (consensus, ledger, policy) and the node driver the engine and the simulator
# share must not depend on tokio, libp2p or rocksdb, not even through another crate: they do no
# I/O of their own, so they can run in the simulator and be tested alone.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in tenge-policy tenge-ledger tenge-consensus tenge-driver; do
    if ! cargo metadata --format-version 1 --no-deps | grep -q "\"name\":\"$crate\""; then
        continue
    fi
    found=$(cargo tree --locked -p "$crate" -e normal --prefix none --format '{p}' \
        | awk '{print $1}' | grep -E '^(tokio|libp2p|libp2p-[a-z-]+|rocksdb|librocksdb-sys)$' | sort -u || true)
    if [ -n "$found" ]; then
        echo "$crate depends on: $found" >&2
        status=1
    else
        echo "$crate: pure"
    fi
done
exit $status
