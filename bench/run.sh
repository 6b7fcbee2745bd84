#!/usr/bin/env bash
# The issue-2 benchmark in one run: starts a redis-server on a free loopback port, runs
# `redis-benchmark -P 16 -q -t get,set` against it, runs nestdb-bench (nestdb in-process,
# kevy-embedded, sorted sets, two threads) with those redis figures, stops the server, and prints
# the machine plus the result tables (Markdown, for docs/BENCHMARKS.md).
#
# Usage: bench/run.sh [--quick] [--thp] [suite...]   (suites: kv kevy redis zset threads; default all)
#   --quick   10x smaller workloads (CI smoke run)
#   --thp     run nestdb-bench with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc backs its heap
#             with transparent huge pages; affects nestdb and kevy alike, not redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=""
thp=""
suites=()
for a in "$@"; do
    case "$a" in
        --quick) quick="--quick" ;;
        --thp) thp=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) suites+=("$a") ;;
    esac
done
[ ${#suites[@]} -eq 0 ] && suites=(kv kevy redis zset threads)
n=1000000
[ -n "$quick" ] && n=100000

want_redis=""
for s in "${suites[@]}"; do [ "$s" = redis ] && want_redis=1; done

if [ -n "$want_redis" ] && ! command -v redis-server >/dev/null; then
    echo "redis-server not found; installing (apt-get install -y redis-server)" >&2
    apt-get install -y redis-server >&2 || { apt-get update >&2 && apt-get install -y redis-server >&2; }
fi

cargo build -q -p nestdb-bench --release
bin=target/release/nestdb-bench

echo "## Machine"
echo
echo "- CPU: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p')"
echo "- Memory: $(free -h | awk '/^Mem:/ {print $2}')"
echo "- Kernel: $(uname -sr)"
echo "- $(rustc --version)"
[ -n "$want_redis" ] && echo "- $(redis-server --version | cut -d' ' -f1-3)"
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- Transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)${thp:+; nestdb-bench run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1}"
echo

args=($quick)
tmp=""
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    [ -n "$tmp" ] && rm -f "$tmp"
}
trap cleanup EXIT

if [ -n "$want_redis" ]; then
    # A free loopback port: nothing accepts a connection on it.
    port=""
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
    done
    [ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] || { echo "redis-server did not start on port $port" >&2; exit 1; }
    tmp=$(mktemp)
    echo "+ redis-benchmark -h 127.0.0.1 -p $port -P 16 -q -t get,set -n $n -r $n -d 32" >&2
    redis-benchmark -h 127.0.0.1 -p "$port" -P 16 -q -t get,set -n "$n" -r "$n" -d 32 | tee "$tmp" | tr '\r' '\n' | grep 'requests per second' >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    args+=(--redis-output "$tmp")
fi

if [ -n "$thp" ]; then
    echo "+ GLIBC_TUNABLES=glibc.malloc.hugetlb=1 $bin ${args[*]} ${suites[*]}" >&2
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$bin" "${args[@]}" "${suites[@]}"
else
    echo "+ $bin ${args[*]} ${suites[*]}" >&2
    "$bin" "${args[@]}" "${suites[@]}"
fi
