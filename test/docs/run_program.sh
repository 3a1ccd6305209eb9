#!/usr/bin/env bash
# Runs a program from the docs as a reader would: against the standalone fake server, configured
# through the environment (STRIPE_API_KEY, STRIPE_API_BASE, STRIPE_CA_FILE). It must exit 0 and
# print nothing on stderr (the docs' programs report failures there).
# Usage: run_program.sh FAKE_STRIPE PROGRAM
set -euo pipefail
fake=$1
program=$2
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$fake" --port 0 --ca-out "$work/ca.pem" > "$work/server.out" &
server=$!
for _ in $(seq 200); do grep -q '^listening on ' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$base" ] || { echo "fake-stripe did not start"; exit 1; }

export STRIPE_API_KEY=sk_test_fake_stripe_key STRIPE_API_BASE="$base" STRIPE_CA_FILE="$work/ca.pem"
set +e
timeout 60 "$program" > "$work/out" 2> "$work/err"
rc=$?
set -e
cat "$work/out"
if [ $rc -ne 0 ] || [ -s "$work/err" ]; then
  echo "FAIL: $(basename "$program") exited $rc; stderr:"
  cat "$work/err"
  exit 1
fi
