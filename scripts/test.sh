#!/usr/bin/env bash
# The test command of README.md: installs what is missing, builds with g++ (warnings as errors)
# and runs every test, builds again under AddressSanitizer + UndefinedBehaviorSanitizer and runs
# the suite there too, runs the thread-safety tests under ThreadSanitizer, builds the whole tree
# with clang (warnings as errors) and runs the suite there, then every libFuzzer target (clang)
# for FUZZ_SECONDS (default 40) each.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang libclang-rt-14-dev
jobs=${JOBS:-2}

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRIPE_ASIO_WERROR=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRIPE_ASIO_SANITIZE=address,undefined
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
# The threaded parts under ThreadSanitizer: only the thread-safety tests are built there.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DSTRIPE_ASIO_SANITIZE=thread
cmake --build build-tsan -j "$jobs" --target stripe_asio_thread_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/test/stripe_asio_thread_tests
# The second compiler: the whole tree with clang, and the suite (the browser test, which only
# drives the platform example through Chromium, and the fleet test, 25 s of processes sharing a
# budget through Redis, run in the g++ and sanitizer builds).
cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DSTRIPE_ASIO_WERROR=ON
cmake --build build-clang -j "$jobs"
ctest --test-dir build-clang --output-on-failure -j "$jobs" -LE "browser|fleet"
# The fuzzers: clang's libFuzzer with ASan+UBSan, from the seeds and past findings in fuzz/.
scripts/fuzz.sh
echo "All tests passed (g++, ASan+UBSan and TSan builds, clang build, fuzzers)."
