#!/usr/bin/env bash
# Install what the tests and benchmarks need on a fresh Debian machine of this kind:
# redis-server/redis-tools (differential tests, benchmark peer), libhiredis-dev (C benchmark
# peer), pkg-config (install check). Idempotent; does nothing when everything is present.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -f /usr/include/hiredis/hiredis.h ] || need+=(libhiredis-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# apt starts no server here; make sure none of ours is left from an earlier run either.
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt >/dev/null 2>&1 || true
