// The client's rate budgets against fake_stripe enforcing Stripe-shaped limits, over TLS on
// loopback: with the budget kept, a burst of calls meets no 429 and no second sees more than the
// server allows; without it, the same burst meets 429s (so the first check can fail). Bounded:
// 40 calls at 25/s, under 2 s.
#include "integration/fixture.hpp"

#include <algorithm>
#include <string>
#include <vector>

using namespace test;
using stripe_asio::errc;
using stripe_asio::error_code;

namespace {

struct burst_result {
    int ok = 0;
    int rate_limited = 0;
    std::vector<stripe_asio::rate_limit_reason> reasons;
};

burst_result burst_of(stripe_asio::config cfg, int calls) {
    asio::io_context ioc;
    stripe_asio::client client(ioc, cfg);
    burst_result r;
    for (int i = 0; i < calls; ++i)
        client.create_login_link("acct_1032D82eZvKYlo2C", [&](error_code ec, stripe_asio::diagnostics diag, auto) {
            if (!ec) ++r.ok;
            if (ec == errc::rate_limit) {
                ++r.rate_limited;
                r.reasons.push_back(diag.rate_limited_reason);
            }
        });
    ioc.run_for(30s); // a bound, not a wait: it returns when the calls are done
    CHECK(client.stats().calls_in_flight == 0);
    return r;
}

fake_stripe::options limited_to(double per_second, double burst) {
    fake_stripe::options o;
    o.rate_limits.endpoint_per_second = per_second;
    o.rate_limits.burst = burst;
    return o;
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("rate budget: a burst kept to the endpoint's 25/s meets no 429 from a server enforcing it") {
    fake_stripe server(limited_to(25, 3)); // Stripe's figure, a little tolerance for the network
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true; // the defaults: 25/s for a test key's account and the endpoint
    auto r = burst_of(cfg, 40);
    CHECK(r.ok == 40);
    CHECK(r.rate_limited == 0);
    CHECK(server.rate_limited_answers() == 0);
    for (std::uint64_t n : server.admitted_per_second()) CHECK(n <= 25 + 3);
}

TEST_CASE("rate budget: the defaults meet no 429 from a server admitting 25 in any one-second window") {
    fake_stripe::options strict;
    strict.rate_limits.account_per_second = 25;
    strict.rate_limits.endpoint_per_second = 25;
    strict.rate_limits.sliding_window = true; // however the sends bunch up, never a 26th
    fake_stripe server(strict);
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true;
    auto r = burst_of(cfg, 60); // 2.6 s at the paced 22.5/s
    CHECK(r.ok == 60);
    CHECK(r.rate_limited == 0);
    CHECK(server.rate_limited_answers() == 0);
}

TEST_CASE("rate budget: without it, the same burst meets 429s that name the endpoint's rate") {
    fake_stripe server(limited_to(25, 3));
    auto cfg = config_for(server); // budgets off
    auto r = burst_of(cfg, 40);
    CHECK(r.rate_limited > 0);
    CHECK(r.ok + r.rate_limited == 40);
    CHECK(server.rate_limited_answers() == static_cast<std::uint64_t>(r.rate_limited));
    CHECK(std::all_of(r.reasons.begin(), r.reasons.end(),
                      [](auto r) { return r == stripe_asio::rate_limit_reason::endpoint_rate; }));
}

} // TEST_SUITE("integration")
