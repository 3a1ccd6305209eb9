#!/usr/bin/env bash
# The command-line client against the standalone fake server: success, JSON, a Stripe error, bad
# input, a wrong CA, and that the API key never reaches the output.
set -euo pipefail
fake=$1
cli=$2
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$fake" --port 0 --ca-out "$work/ca.pem" --api-key sk_test_cli_secret_key > "$work/server.out" &
server=$!
for _ in $(seq 200); do grep -q '^listening on ' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$base" ] || { echo "fake-stripe did not start"; exit 1; }

export STRIPE_API_KEY=sk_test_cli_secret_key STRIPE_API_BASE="$base" STRIPE_CA_FILE="$work/ca.pem"
fail() { echo "FAIL: $*"; exit 1; }

url=$("$cli" acct_1032D82eZvKYlo2C)
[[ "$url" == "$base/express/acct_1032D82eZvKYlo2C/"* ]] || fail "unexpected url: $url"

json=$("$cli" acct_1032D82eZvKYlo2C --json --idempotency-key cli-key-1)
[[ "$json" == *'"object":"login_link"'* && "$json" == *'"idempotency_key":"cli-key-1"'* ]] || fail "json: $json"
replay=$("$cli" acct_1032D82eZvKYlo2C --json --idempotency-key cli-key-1)
[[ "$replay" == *'"idempotent_replayed":true'* ]] || fail "replay not reported: $replay"

set +e
"$cli" acct_1032D82eZvKYlo2C --api-key sk_test_wrong_key_123 2> "$work/err401"; rc=$?
"$cli" not-an-account 2> "$work/errbad"; rc_bad=$?
STRIPE_CA_FILE= "$cli" acct_1032D82eZvKYlo2C --max-retries 0 2> "$work/errca"; rc_ca=$?
"$cli" --bogus 2> /dev/null; rc_usage=$?
set -e
[ $rc -eq 1 ] && grep -q 'kind=authentication' "$work/err401" && grep -q 'status=401' "$work/err401" \
  && grep -q 'request_id=req_' "$work/err401" || fail "401: rc=$rc $(cat "$work/err401")"
grep -q 'sk_test_wrong_key_123' "$work/err401" && fail "the API key leaked: $(cat "$work/err401")"
[ $rc_bad -eq 1 ] && grep -q 'kind=invalid_account_id' "$work/errbad" || fail "bad id: $(cat "$work/errbad")"
[ $rc_ca -eq 1 ] && grep -q 'kind=tls_verification_failed' "$work/errca" || fail "wrong CA: $(cat "$work/errca")"
[ $rc_usage -eq 2 ] || fail "usage error exit code $rc_usage"
"$cli" --help | grep -q -- '--max-retries' || fail "help"

# --max-retries and --timeout, against a second server scripted to fail.
"$fake" --port 0 --ca-out "$work/ca2.pem" --api-key sk_test_cli_secret_key \
  --fault 500 --fault 500 --fault 500 --fault 503 --fault hang > "$work/server2.out" &
server2=$!
trap 'kill "$server" "$server2" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 200); do grep -q '^listening on ' "$work/server2.out" 2>/dev/null && break; sleep 0.05; done
base2=$(sed -n 's/^listening on //p' "$work/server2.out")
export STRIPE_API_BASE="$base2" STRIPE_CA_FILE="$work/ca2.pem"
set +e
"$cli" acct_1032D82eZvKYlo2C --max-retries 0 2> "$work/retry0"; rc0=$?
"$cli" acct_1032D82eZvKYlo2C --max-retries 2 2> "$work/retry2"; rc2=$?
start=$(date +%s%N)
"$cli" acct_1032D82eZvKYlo2C --timeout 1 2> "$work/timeout"; rct=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
set -e
[ $rc0 -eq 1 ] && grep -q 'attempts=1 ' "$work/retry0" && grep -q 'status=500' "$work/retry0" || fail "--max-retries 0: $(cat "$work/retry0")"
[ $rc2 -eq 1 ] && grep -q 'attempts=3 ' "$work/retry2" && grep -q 'status=503' "$work/retry2" || fail "--max-retries 2: $(cat "$work/retry2")"
[ $rct -eq 1 ] && grep -q 'kind=deadline_exceeded' "$work/timeout" || fail "--timeout: $(cat "$work/timeout")"
# The line names the limit that ran out: the call's deadline, not the attempt's time.
grep -q "before the call's deadline" "$work/timeout" && ! grep -q "attempt's time" "$work/timeout" \
  || fail "--timeout names the wrong limit: $(cat "$work/timeout")"
[ $elapsed_ms -lt 5000 ] || fail "--timeout 1 took ${elapsed_ms} ms"
"$cli" acct_1032D82eZvKYlo2C > /dev/null || fail "the script is used up, the next call must succeed"
echo "cli ok"
