#!/usr/bin/env bash
# The main job of README.md: builds the tools, starts the fake Stripe server and makes login
# links against it with the command-line client.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "${JOBS:-2}" --target fake-stripe stripe-login-link

workdir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$workdir"' EXIT
build/fake-stripe --port 0 --ca-out "$workdir/ca.pem" > "$workdir/server.out" &
server=$!
for _ in $(seq 100); do grep -q '^listening on ' "$workdir/server.out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$workdir/server.out")
export STRIPE_API_KEY=sk_test_fake_stripe_key STRIPE_API_BASE="$base" STRIPE_CA_FILE="$workdir/ca.pem"
for account in acct_1032D82eZvKYlo2C acct_1Nv0FGQ9RKHgCVdK; do
  build/stripe-login-link "$account" --json
done
