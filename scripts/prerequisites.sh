#!/usr/bin/env bash
# Installs what the build needs beyond the Rust toolchain: libclang (RocksDB's bindings are
# generated with bindgen). As root through apt-get, or through sudo; otherwise says what to do.
set -euo pipefail
if ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ldconfig -p 2>/dev/null | grep -q libclang; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq libclang-dev >/dev/null
elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq libclang-dev >/dev/null
else
    echo "libclang is missing: install it as root with: apt-get install -y libclang-dev" >&2
    exit 1
fi
