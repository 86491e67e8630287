#!/usr/bin/env bash
# The simulator in CI: every regression seed, 8,000 seeds at n=4 and 2,000 at n=7 (10,000 in all)
# with all faults, f Byzantine validators (each with one of all the behaviours) and one observer
# following by range sync, 3,000 seeds that change the validator set, and the negative control
# (twins beyond f must be caught forking).
set -euo pipefail
cd "$(dirname "$0")/.."
sim=(cargo run --release --locked --quiet -p tenge-sim --)
cargo build --release --locked --workspace --quiet

echo "regression seeds (crates/sim/regressions.txt)"
grep -v '^\s*#' crates/sim/regressions.txt | sed 's/#.*//' | while read -r seed args; do
    [ -n "$seed" ] || continue
    # shellcheck disable=SC2086
    "${sim[@]}" --seeds "$seed" $args | tail -n 1
done

run() {
    local started=$SECONDS
    "${sim[@]}" "$@"
    local elapsed=$((SECONDS - started))
    echo "($*: $elapsed s)"
}
run --seeds 1000..9000 --validators 4 --faults all --byzantine-behaviours all --observers 1
run --seeds 1000..3000 --validators 7 --faults all --byzantine-behaviours all --observers 1
# Reconfiguration (D84): validators added, removed and rotated across the faults, the
# behaviours and a twin pair on the boundary, and a late observer joining after the changes.
run --seeds 1000..3000 --validators 4 --faults all --observers 1 --reconfigure
run --seeds 1000..1500 --validators 4 --faults all --twins 1 --reconfigure
run --seeds 1000..1500 --validators 7 --faults all --observers 1 --reconfigure

echo "negative control: --validators 4 --twins 2 must find a safety violation"
if output=$("${sim[@]}" --seeds 0..200 --validators 4 --twins 2); then
    echo "$output" | tail -n 1
    echo "negative control FAILED: two twin pairs among 4 validators produced no violation" >&2
    exit 1
fi
echo "$output" | grep -c 'agreement' | xargs echo "seeds with an agreement violation:"
echo "$output" | tail -n 1
