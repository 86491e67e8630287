#!/usr/bin/env bash
# Runs scripts/prerequisites.sh against machine states this machine does not have: each case
# lays out a fake filesystem (TENGE_PREREQ_SYSROOT), a PATH of stub commands (rustc, id, sudo,
# apt-get, g++) and checks what the script did: which packages it asked apt-get for, its exit
# code and what it told the user. The first case is the one that broke a new user's first run:
# Debian's libclang-cpp14 present, libclang.so absent.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
script="$repo/scripts/prerequisites.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
fail() {
    echo "FAIL [$case_name]: $*" >&2
    echo "--- stderr:" >&2
    cat "$work/stderr" >&2 || true
    echo "--- apt log:" >&2
    cat "$work/apt.log" >&2 2>/dev/null || true
    case_failed=1
}

# A fresh case: empty sysroot, stub bin dir with the real tools the script needs.
new_case() {
    case_name=$1
    rm -rf "$work/root" "$work/bin" "$work/apt.log" "$work/stderr"
    mkdir -p "$work/root" "$work/bin"
    : >"$work/apt.log"
    local tool
    for tool in bash sed awk sort head basename env cat mkdir touch ls dirname true; do
        ln -s "$(command -v "$tool")" "$work/bin/$tool"
    done
    stub rustc 'echo "rustc ${STUB_RUST:-1.95.0} (59807616e 2026-04-14)"'
    stub id 'if [ "${1:-}" = -u ]; then echo "${STUB_UID:-0}"; else echo uid; fi'
    stub g++ 'exit 0'
    # apt-get records its arguments; `install` lays out what Debian's packages would install.
    stub apt-get '
echo "apt-get $* (uid ${STUB_AS:-direct})" >>"$STUB_WORK/apt.log"
[ "${STUB_APT_FAILS:-}" = 1 ] && { echo "E: Unable to locate package" >&2; exit 100; }
if [ "$1" = install ]; then
    for arg in "$@"; do
        case "$arg" in
        libclang-dev)
            mkdir -p "$STUB_ROOT/usr/lib/llvm-14/lib/clang/14.0.6/include"
            touch "$STUB_ROOT/usr/lib/llvm-14/lib/libclang.so" \
                "$STUB_ROOT/usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h" ;;
        esac
    done
fi
exit 0'
    unset STUB_RUST STUB_UID STUB_APT_FAILS LIBCLANG_PATH
}

stub() {
    printf '#!%s\n%s\n' "$(command -v bash)" "$2" >"$work/bin/$1"
    chmod +x "$work/bin/$1"
}

sudo_stub() { # $1: "works" (passwordless) or "asks" (needs a password)
    if [ "$1" = works ]; then
        stub sudo '[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; STUB_AS=sudo exec "$@"'
    else
        stub sudo 'echo "sudo: a password is required" >&2; exit 1'
    fi
}

# Only what Debian's libclang-cpp14 package installs: the C++ library, no libclang.
only_libclang_cpp() {
    mkdir -p "$work/root/usr/lib/llvm-14/lib" "$work/root/usr/lib/x86_64-linux-gnu"
    touch "$work/root/usr/lib/llvm-14/lib/libclang-cpp.so.14" \
        "$work/root/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14"
}

# What libclang1-14 plus libclang-common-14-dev install: a loadable libclang and its headers.
runtime_libclang() {
    mkdir -p "$work/root/usr/lib/llvm-14/lib/clang/14.0.6/include" "$work/root/usr/lib/x86_64-linux-gnu"
    touch "$work/root/usr/lib/x86_64-linux-gnu/libclang-14.so.1" \
        "$work/root/usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h"
}

run() {
    set +e
    env -i PATH="$work/bin" HOME="$work" STUB_WORK="$work" STUB_ROOT="$work/root" \
        TENGE_PREREQ_SYSROOT="$work/root" ${STUB_UID:+STUB_UID=$STUB_UID} \
        ${STUB_RUST:+STUB_RUST=$STUB_RUST} ${STUB_APT_FAILS:+STUB_APT_FAILS=$STUB_APT_FAILS} \
        ${LIBCLANG_PATH:+LIBCLANG_PATH=$LIBCLANG_PATH} \
        "$work/bin/bash" "$script" >/dev/null 2>"$work/stderr"
    status=$?
    set -e
}

expect_status() { [ "$status" = "$1" ] || fail "exit code $status, expected $1"; }
expect_installed() { grep -q "apt-get install .*$1.* (uid ${2:-direct})" "$work/apt.log" || fail "apt-get did not install $1 ${2:+through $2}"; }
expect_no_apt() { [ ! -s "$work/apt.log" ] || fail "apt-get was run: $(cat "$work/apt.log")"; }
expect_said() { grep -qF -- "$1" "$work/stderr" || fail "stderr does not say: $1"; }
done_case() {
    if [ "$case_failed" = 0 ]; then
        echo "ok   $case_name"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
}

cases=0
start() { new_case "$1"; case_failed=0; cases=$((cases + 1)); }

start "root, only libclang-cpp: installs libclang-dev"
only_libclang_cpp
run
expect_status 0
expect_installed libclang-dev
expect_said "installed libclang-dev"
done_case

start "non-root without sudo, only libclang-cpp: stops at once with the exact command"
only_libclang_cpp
STUB_UID=1000 run
expect_status 1
expect_no_apt
expect_said "apt-get update && apt-get install -y libclang-dev"
done_case

start "non-root with passwordless sudo, only libclang-cpp: installs through sudo"
only_libclang_cpp
sudo_stub works
STUB_UID=1000 run
expect_status 0
expect_installed libclang-dev sudo
done_case

start "non-root, sudo asks for a password: stops with the exact command"
only_libclang_cpp
sudo_stub asks
STUB_UID=1000 run
expect_status 1
expect_no_apt
expect_said "apt-get update && apt-get install -y libclang-dev"
done_case

start "libclang and clang headers present: installs nothing"
runtime_libclang
STUB_UID=1000 run
expect_status 0
expect_no_apt
done_case

start "libclang present but no clang headers: installs libclang-dev"
mkdir -p "$work/root/usr/lib/llvm-14/lib"
touch "$work/root/usr/lib/llvm-14/lib/libclang.so.1"
run
expect_status 0
expect_installed libclang-dev
done_case

start "LIBCLANG_PATH outside the usual directories is honoured"
mkdir -p "$work/root/opt/llvm/lib" "$work/root/usr/lib/clang/16/include"
touch "$work/root/opt/llvm/lib/libclang.so" "$work/root/usr/lib/clang/16/include/stddef.h"
LIBCLANG_PATH="$work/root/opt/llvm/lib" run
expect_status 0
expect_no_apt
done_case

start "Rust older than rust-version: stops and says rustup update"
runtime_libclang
STUB_RUST=1.80.0 run
expect_status 1
expect_said "too old"
expect_said "rustup update stable"
expect_no_apt
done_case

start "no C++ compiler: installs g++ too"
only_libclang_cpp
rm "$work/bin/g++"
run
expect_status 0
expect_installed "g++ libclang-dev"
done_case

start "apt-get fails: exits non-zero with the command to run"
only_libclang_cpp
STUB_APT_FAILS=1 run
expect_status 1
expect_said "apt-get update && apt-get install -y libclang-dev"
done_case

echo "prerequisites: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" = "$cases" ]
