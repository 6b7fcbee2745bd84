#!/usr/bin/env bash
# C benchmark: nestdb_command_argv vs hiredis + a local redis-server (16-deep pipelining),
# GET/SET on 1M keys, best of 3 alternating rounds (override: bench/c/run.sh KEYS ROUNDS).
# Starts its own redis-server on a free loopback port with persistence off, and stops it
# when done.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
KEYS=${1:-1000000}
ROUNDS=${2:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
REL=$TARGET_DIR/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nestdb-bench.XXXXXX")
REDIS_PID=
cleanup() {
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

missing=()
[ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v cc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing: ${missing[*]}" >&2
        exit 1
    fi
fi

cargo build --release -p nestdb-ffi
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -Werror -Iinclude bench/c/bench_kv.c -o "$WORK/bench_kv" \
    -L"$REL" -lnestdb -Wl,-rpath,"$REL" $(pkg-config --cflags --libs hiredis)

# A free loopback port: nothing answers a connection there.
port=
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        port=$p
        break
    fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }

redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
REDIS_PID=$!
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.05
done

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis-server: $(redis-server --version | cut -d' ' -f3) on 127.0.0.1:$port"
"$WORK/bench_kv" "$port" "$KEYS" "$ROUNDS"
