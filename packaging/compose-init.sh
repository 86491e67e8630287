#!/usr/bin/env bash
# Writes the keys, the genesis and one config per node for packaging/compose.yaml: 4 validators
# and 1 observer on a compose network with fixed addresses.
#
#   compose-init.sh [DIR]        (default /etc/tenge; the compose `init` service runs it)
#
# Environment: TENGE (the `tenge` binary, default `tenge` from PATH), TENGE_POLICY (a policy
# file for the genesis; the CLI's defaults without it), TENGE_COMPOSE_NET (the first three
# octets of the compose network, default 172.28.5: it must match compose.yaml's).
#
# Validators are given to the genesis as /ip4/ADDRESS/tcp/7100. When this was written tenged
# could not dial /dns4 names (docs/decisions.md D35); it can since D48, but fixed addresses keep
# the genesis independent of the compose network's resolver.
#
# Nothing is overwritten: with DIR/genesis.json present the script says so and stops, so that a
# second `docker compose up` keeps the chain. To start over, remove the compose volumes.
set -euo pipefail

dir=${1:-/etc/tenge}
tenge=${TENGE:-tenge}
net=${TENGE_COMPOSE_NET:-172.28.5}
policy=${TENGE_POLICY:-}
validators=4
observer=observer-1

if ! [[ $net =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]]; then
    echo "compose-init: TENGE_COMPOSE_NET=$net is not three octets like 172.28.5" >&2
    exit 2
fi
if [ -e "$dir/genesis.json" ]; then
    echo "compose-init: $dir/genesis.json exists: keeping the keys, genesis and configs there"
    exit 0
fi
umask 027
mkdir -p "$dir/keys"

# Prints the public key of a new key file (`tenge keygen` writes it with mode 0600).
keygen() {
    "$tenge" --output text keygen --out "$1" | sed -n 's/^public_key: *//p'
}

for name in officer-1 officer-2 officer-3 bank-1 bank-2; do
    keygen "$dir/keys/$name.key" >/dev/null
done

genesis_args=()
for i in $(seq 1 "$validators"); do
    mkdir -p "$dir/validator-$i"
    keygen "$dir/validator-$i/node.key" >/dev/null
    genesis_args+=(--validator "validator-$i=$dir/validator-$i/node.key@/ip4/$net.1$i/tcp/7100")
done
mkdir -p "$dir/$observer"
observer_key=$(keygen "$dir/$observer/node.key")
if ! [[ $observer_key =~ ^[0-9a-f]{64}$ ]]; then
    echo "compose-init: could not read the observer's public key from \`tenge keygen\`" >&2
    exit 1
fi
if [ -n "$policy" ]; then
    genesis_args+=(--policy "$policy")
fi

"$tenge" genesis --chain-id tenge-compose --threshold 2 \
    --officer-key "$dir/keys/officer-1.key" --officer-key "$dir/keys/officer-2.key" \
    --officer-key "$dir/keys/officer-3.key" \
    --bank "bank-1=$dir/keys/bank-1.key" --bank "bank-2=$dir/keys/bank-2.key" \
    "${genesis_args[@]}" --out "$dir/genesis.json" >/dev/null

# One config per node. Paths are relative to the config file; RocksDB goes to the node's own
# volume at /var/lib/tenge. Both ports listen on all of the container's addresses.
node_config() { # NAME MODE
    cat <<EOF
# $1 of the compose network (packaging/compose.yaml). Fields: config/validator.toml.
mode = "$2"
data_dir = "/var/lib/tenge"
key_file = "node.key"
genesis_file = "../genesis.json"
listen_address = "/ip4/0.0.0.0/tcp/7100"
api_address = "0.0.0.0:8100"
log_format = "text"
log_level = "info"
EOF
}
for i in $(seq 1 "$validators"); do
    {
        node_config "validator-$i" validator
        printf '\n# The observer of this network.\n[[peers]]\nkey = "%s"\n' "$observer_key"
    } >"$dir/validator-$i/config.toml"
done
node_config "$observer" observer >"$dir/$observer/config.toml"

echo "compose-init: wrote $dir: genesis.json (chain tenge-compose, validators at $net.11-$net.1$validators), keys/, validator-1..$validators/, $observer/"
