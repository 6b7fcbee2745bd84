#!/usr/bin/env bash
# The whole test suite (README's test command; .ci/run calls it). Installs what it needs,
# then: format and lint checks, Rust tests (release build, once), the differential tests
# against a real redis-server, the C ABI tests under ASan/UBSan, the Python package tests in a
# fresh virtualenv, and a scaled-down benchmark smoke run.
#
# NESTDB_FULL=1 runs the heavy fuzz/differential/crash sizes instead of the CI sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export NESTDB_REQUIRE_REDIS=1
export CARGO_TERM_COLOR=never
# The tests build the release profile without its thin LTO. LTO is a code-generation choice
# for what ships (`make`, `make demo`, the wheel a user builds); it does not change what the
# code does, and it re-optimizes the whole program once per linked artifact: with it, this
# suite spent 20 of its 31 minutes building. Every step below (cargo, the C library, pip's
# build of the Python package, the benchmark smoke run) shares this setting.
export CARGO_PROFILE_RELEASE_LTO=false

step() { printf '\n==== %s (at %ss)\n' "$*" "$SECONDS"; }

# Keep a copy of the output to total the runners' counts at the end.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
exec > >(tee "$log") 2>&1

step "setup"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings

step "cargo test (release)"
cargo test --workspace --release

if [ -f tests/c/run.sh ]; then
    step "C ABI tests"
    bash tests/c/run.sh
fi

if [ -f tests/python/run.sh ]; then
    step "Python tests"
    bash tests/python/run.sh
fi

step "benchmark smoke run (scaled down)"
cargo run -q --release -p nestdb-bench -- all --quick

step "all tests passed"
# One closing line over every runner: cargo's "test result" lines, pytest's and the C suite's.
awk '
    /^test result: /      { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    /^[0-9]+ passed(, [0-9]+ [a-z]+)* in / { p += $1 }
    /^c-abi: [0-9]+ passed/ { p += $2; f += $4 }
    END { printf "%d passed, %d failed\n", p, f }
' "$log"
