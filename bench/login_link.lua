-- wrk script for bench/compare: the request stripe-asio sends for a login link (POST, Bearer key,
-- empty form body, Stripe-Version, a fresh Idempotency-Key per request), over keep-alive
-- connections. done() prints one JSON line with the counts and latency percentiles.
--
--   STRIPE_API_KEY=... ACCOUNT=acct_... wrk -t 1 -c 16 -d 5s -s bench/login_link.lua https://127.0.0.1:PORT

local key = os.getenv("STRIPE_API_KEY") or "sk_test_fake_stripe_key"
local account = os.getenv("ACCOUNT") or "acct_1032D82eZvKYlo2C"
local version = os.getenv("STRIPE_VERSION") or "2026-10-28.endive"

wrk.method = "POST"
wrk.path = "/v1/accounts/" .. account .. "/login_links"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Content-Length"] = "0"
wrk.headers["Stripe-Version"] = version
wrk.headers["Accept"] = "application/json"

-- Keys unique across runs against the same server: it replays a known key instead of making a link.
math.randomseed(os.time())
local run = string.format("%08x", math.random(0, 0x7fffffff))
local counter = 0

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "wrk-" .. run .. "-" .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"client":"wrk","requests":%d,"non_2xx":%d,"socket_errors":%d,"seconds":%.6f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
