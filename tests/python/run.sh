#!/usr/bin/env bash
# The Python package's whole test run, from a fresh machine (Debian + Rust toolchain + python3):
#   1. a fresh virtualenv (.venv-test at the repo root, or $NESTDB_TEST_VENV);
#   2. `pip install ./python` -- pip's isolated PEP 517 build fetches maturin and builds the
#      release abi3 wheel; nothing is pre-installed but pip;
#   3. test tools: pytest, redis (redis-py: differential tests + exception interop), mypy;
#   4. `python -m mypy.stubtest nestdb` against the installed package (stubs vs the module);
#   5. pytest over tests/python (the differential tests start their own redis-server on a free
#      loopback port; without one they skip, unless NESTDB_REQUIRE_REDIS=1, which installs it
#      with apt-get when possible and fails otherwise).
# Extra arguments go to pytest (e.g. `tests/python/run.sh -k pipeline -x`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${NESTDB_TEST_VENV:-$ROOT/.venv-test}"
PYTHON="${PYTHON:-python3}"

step() { printf '\n---- python: %s (at %ss)\n' "$*" "$SECONDS"; }

if ! command -v redis-server >/dev/null 2>&1 && [ "${NESTDB_REQUIRE_REDIS:-0}" = "1" ]; then
    step "installing redis-server (NESTDB_REQUIRE_REDIS=1)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

step "fresh virtualenv $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip

step "pip install ./python (release build)"
"$PY" -m pip install -q "$ROOT/python"

step "test tools"
"$PY" -m pip install -q pytest redis mypy

# Run from the test directory so `import nestdb` is the installed package, never the source tree.
cd "$ROOT/tests/python"

step "stubtest"
"$PY" -m mypy.stubtest nestdb

step "pytest"
"$PY" -m pytest -q -p no:cacheprovider "$@"
