#!/usr/bin/env bash
# The issue-2 benchmark in one run: starts a redis-server on a free loopback port, runs
# `redis-benchmark -P 16 -q -t get,set` against it, runs nestdb-bench (nestdb in-process,
# kevy-embedded, sorted sets, two threads) with those redis figures, stops the server, and prints
# the machine plus the result tables (Markdown, for docs/BENCHMARKS.md). The issue-5 durability
# suites (`bench/run.sh durability`) run nestdb-bench alone: it starts its own redis-servers.
#
# Usage: bench/run.sh [--quick] [--thp] [--polodb] [--dur-keys N] [--dir PATH] [suite...]
#   suites: kv kevy redis zset threads (issue 2; the default), restart always everysec (issue 5;
#   `fsync` = always + everysec, `durability` = all three; they start their own redis-servers),
#   memory hitratio (issue 6), docs (issue 7: 1M documents; nestdb alone unless --polodb)
#   --quick       10x smaller issue-2 workloads, 20k-key durability workloads (CI smoke run)
#   --thp         run nestdb-bench with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc backs its heap
#                 with transparent huge pages; affects nestdb and kevy alike, not redis-server)
#   --polodb      build nestdb-bench with the polodb_core peer of the docs suite (compiles RocksDB:
#                 many minutes the first time; needs libclang-dev)
#   --dur-keys N  keys of the durability dataset (default 5000000)
#   --dir PATH    where the durability suites create their database directories (default /tmp;
#                 must be a real disk: fsync is what they time)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=""
thp=""
features=()
suites=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick="--quick" ;;
        --thp) thp=1 ;;
        --polodb) features=(--features polodb) ;;
        --dur-keys|--dir) [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }; extra+=("$1" "$2"); shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) suites+=("$1") ;;
    esac
    shift
done
[ ${#suites[@]} -eq 0 ] && suites=(kv kevy redis zset threads)
n=1000000
[ -n "$quick" ] && n=100000

want_redis=""
need_server=""
for s in "${suites[@]}"; do
    case "$s" in
        redis) want_redis=1; need_server=1 ;;
        restart|always|everysec|fsync|durability|memory|hitratio|all) need_server=1 ;;
    esac
done

if [ -n "$need_server" ] && ! command -v redis-server >/dev/null; then
    echo "redis-server not found; installing (apt-get install -y redis-server)" >&2
    apt-get install -y redis-server >&2 || { apt-get update >&2 && apt-get install -y redis-server >&2; }
fi

cargo build -q -p nestdb-bench --release ${features[@]+"${features[@]}"}
bin=${CARGO_TARGET_DIR:-target}/release/nestdb-bench

echo "## Machine"
echo
echo "- CPU: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p')"
echo "- Memory: $(free -h | awk '/^Mem:/ {print $2}')"
echo "- Kernel: $(uname -sr)"
echo "- $(rustc --version)"
[ -n "$need_server" ] && echo "- $(redis-server --version | cut -d' ' -f1-3)"
scratch=/tmp
for ((i = 0; i < ${#extra[@]}; i += 2)); do [ "${extra[i]}" = --dir ] && scratch=${extra[i+1]}; done
echo "- Disk under $scratch: $(df -T "$scratch" | awk 'NR==2 {print $1", "$2}')$(d=$(df "$scratch" | awk 'NR==2 {print $1}'); d=${d#/dev/}; [ -r /sys/block/${d%%[0-9]*}/queue/rotational ] && echo "; rotational=$(cat /sys/block/${d%%[0-9]*}/queue/rotational)")"
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- Transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)${thp:+; nestdb-bench run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1}"
echo

args=($quick "${extra[@]}")
tmp=""
pid=""
cleanup() {
    local rc=$?
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$tmp" ]; then rm -f "$tmp"; fi
    exit "$rc"
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
