#!/usr/bin/env bash
# Builds test/consumer/main.cpp as a user's own project would, then runs it (it makes a link
# against fake_stripe):
#   package       install the build tree into a temporary prefix; CMake find_package(stripe_asio)
#   subdirectory  CMake add_subdirectory of the source tree
#   pkg-config    install as above; a plain Makefile with pkg-config
# Usage: run.sh MODE BUILD_DIR
set -euo pipefail
mode=$1
build=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The compiler the build tree was made with, so a clang build is consumed by clang.
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
log() { cat "$1"; exit 1; }

install_tree() {
  cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" || log "$work/install.log"
}

case "$mode" in
  package)
    install_tree
    cmake -S "$here" -B "$work/build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" || log "$work/configure.log"
    cmake --build "$work/build" -j "${JOBS:-2}" > "$work/build.log" || log "$work/build.log"
    ;;
  subdirectory)
    cmake -S "$here/subdirectory" -B "$work/build" -DCMAKE_CXX_COMPILER="$cxx" \
      -DSTRIPE_ASIO_SOURCE_DIR="$source_dir" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" || log "$work/configure.log"
    # A subproject builds no tests, tools or examples of its own, and installs nothing.
    grep -q 'STRIPE_ASIO_BUILD_TESTS:BOOL=OFF' "$work/build/CMakeCache.txt" || { echo "tests are on in a subproject"; exit 1; }
    cmake --build "$work/build" -j "${JOBS:-2}" > "$work/build.log" || log "$work/build.log"
    ;;
  pkg-config)
    install_tree
    ls "$work"/prefix/lib*/pkgconfig/stripe_asio.pc "$work"/prefix/lib*/pkgconfig/stripe_asio_testing.pc > /dev/null
    mkdir -p "$work/build"
    PKG_CONFIG_PATH=$(echo "$work"/prefix/lib*/pkgconfig) make -s -C "$work/build" -f "$here/Makefile" \
      VPATH="$here" CXX="$cxx" consumer > "$work/build.log" 2>&1 || log "$work/build.log"
    ;;
  *)
    echo "usage: run.sh package|subdirectory|pkg-config BUILD_DIR"
    exit 2
    ;;
esac
"$work/build/consumer"
