#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (in build-fuzz/) and runs each one for
# FUZZ_SECONDS (default 40) from a copy of its seeds (fuzz/corpus/<target>/) and past crashes
# (fuzz/regressions/<target>/), so the repository is never written. Fails when any target
# crashes, leaks, breaks a property, times out or runs out of memory; the input that did it is
# kept in build-fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/).
# Usage: scripts/fuzz.sh [target ...]   (default: every target built, e.g. json_results)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang libclang-rt-14-dev
jobs=${JOBS:-2}
seconds=${FUZZ_SECONDS:-40}

# Debug: Boost's and Beast's assertions stay on; fuzz/CMakeLists.txt adds -O1.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSTRIPE_ASIO_BUILD_FUZZERS=ON \
  -DSTRIPE_ASIO_BUILD_TESTS=OFF -DSTRIPE_ASIO_BUILD_TOOLS=OFF
cmake --build build-fuzz -j "$jobs" --target stripe_asio_fuzzers

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in build-fuzz/fuzz/*_fuzzer; do
    name=$(basename "$bin")
    targets+=("${name%_fuzzer}")
  done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for name in "${targets[@]}"; do
  bin=build-fuzz/fuzz/${name}_fuzzer
  [ -x "$bin" ] || { echo "fuzz: no target $name" >&2; exit 2; }
  corpus=$work/$name
  artifacts=build-fuzz/artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  for seeds in fuzz/corpus/$name fuzz/regressions/$name; do
    if [ -d "$seeds" ]; then find "$seeds" -maxdepth 1 -type f -exec cp -t "$corpus" {} +; fi
  done
  echo "fuzz: $name for ${seconds}s"
  if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$bin" "$corpus" -max_total_time="$seconds" \
       -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" \
       >"$work/$name.log" 2>&1; then
    # The last status line (coverage, features, corpus) and the totals.
    { grep -E '^#[0-9]+.* cov: ' "$work/$name.log" | tail -n 1
      grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/$name.log"
    } | sed "s/^/fuzz: $name: /" || true
  else
    tail -n 60 "$work/$name.log"
    echo "fuzz: $name FAILED; input kept in $artifacts/" >&2
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a failure (${targets[*]})."
