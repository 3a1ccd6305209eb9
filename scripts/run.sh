#!/usr/bin/env bash
# The main job of README.md: builds the benchmark and runs it against the embedded fake Stripe
# server (a separate process, pinned to its own core): 20,000 login links from 64 concurrent
# callers over 16 pooled TLS connections. Extra arguments go to login_link_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "${JOBS:-2}" --target login_link_bench fake-stripe
build/bench/login_link_bench --no-progress "$@"
