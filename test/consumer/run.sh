#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs test/consumer against it
# with find_package(stripe_asio), as a user's own project would.
# Usage: run.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log"
cmake --build "$work/build" -j "${JOBS:-2}" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/build/consumer"
