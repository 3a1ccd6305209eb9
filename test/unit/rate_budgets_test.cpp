// rate_budgets: the account's and the endpoints' budgets, driven with a clock of the test's own.
#include <doctest/doctest.h>

#include <stripe_asio/detail/rate_budgets.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <vector>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using stripe_asio::rate_budget_config;
using stripe_asio::detail::endpoint_name;
using stripe_asio::detail::parse_rate_limit_reason;
using stripe_asio::detail::rate_budgets;
using stripe_asio::detail::rate_limit_reason;
using stripe_asio::detail::share_of;
using time_point = rate_budgets::clock::time_point;

namespace {

const time_point t0 = time_point{} + 1h;
const time_point no_deadline = time_point::max();

/// Budgets paced at the full rate, with round backoff figures, for arithmetic to the tick.
rate_budget_config budgets_of(double account, double endpoint, double burst = 1) {
    rate_budget_config cfg;
    cfg.account_per_second = account;
    cfg.endpoint_per_second = endpoint;
    cfg.burst = burst;
    cfg.headroom = 1;
    cfg.backoff_factor = 0.5;
    cfg.recovery_per_second = 0.1;
    return cfg;
}

/// Send times of a caller that always has one more call: each reserves as the one before goes.
std::vector<time_point> sends_until(rate_budgets& b, std::size_t endpoint, time_point from, time_point until,
                                    std::optional<time_point> limited_at = std::nullopt) {
    std::vector<time_point> sends;
    time_point now = from;
    while (now < until) {
        if (limited_at && now >= *limited_at) {
            b.rate_limited(rate_limit_reason::endpoint_rate, endpoint, now);
            limited_at.reset();
        }
        now += b.reserve(endpoint, now, no_deadline).wait;
        if (now < until) sends.push_back(now);
    }
    return sends;
}

/// The most sends in any window of `length`, closed at both ends.
std::size_t most_within(const std::vector<time_point>& sends, std::chrono::nanoseconds length) {
    std::size_t most = 0;
    for (std::size_t first = 0, last = 0; last < sends.size(); ++last) {
        while (sends[last] - sends[first] > length) ++first;
        most = std::max(most, last - first + 1);
    }
    return most;
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("rate budgets: off, every call goes at once") {
    rate_budget_config cfg;
    cfg.enabled = false;
    rate_budgets b(cfg, false);
    for (int i = 0; i < 100; ++i) {
        auto d = b.reserve(0, t0, t0);
        CHECK(d.granted);
        CHECK(d.wait == 0ns);
    }
}

TEST_CASE("rate budgets: the account's figure comes from the key's mode, 25/s in test and 100/s live") {
    rate_budget_config cfg = budgets_of(0, 1000);
    rate_budgets test_mode(cfg, false), live(cfg, true);
    auto e = test_mode.endpoint("POST /v1/x");
    CHECK(test_mode.reserve(e, t0, no_deadline).wait == 0ms);
    CHECK(test_mode.reserve(e, t0, no_deadline).wait == 40ms);
    CHECK(test_mode.reserve(e, t0, no_deadline).wait == 80ms);
    auto l = live.endpoint("POST /v1/x");
    CHECK(live.reserve(l, t0, no_deadline).wait == 0ms);
    CHECK(live.reserve(l, t0, no_deadline).wait == 10ms);
    CHECK(stripe_asio::detail::is_live_key("rk_live_abc"));
    CHECK_FALSE(stripe_asio::detail::is_live_key("sk_test_abc"));
    CHECK_FALSE(stripe_asio::detail::is_live_key("sk_livex"));
}

TEST_CASE("rate budgets: an endpoint's budget binds its own calls; other endpoints share only the account's") {
    rate_budgets b(budgets_of(100, 25), false);
    auto links = b.endpoint("POST /v1/accounts/:account/login_links");
    auto other = b.endpoint("GET /v1/balance");
    CHECK(links != other);
    CHECK(b.reserve(links, t0, no_deadline).wait == 0ms);
    CHECK(b.reserve(links, t0, no_deadline).wait == 40ms); // the endpoint's 25/s
    // The account's 100/s is shared, and the second call took from it when it goes, at 40 ms.
    CHECK(b.reserve(other, t0, no_deadline).wait == 50ms);
    CHECK(b.reserve(other, t0, no_deadline).wait == 90ms); // its own endpoint's 25/s now binds
    CHECK(b.endpoint("GET /v1/balance") == other);
}

TEST_CASE("rate budgets: a call takes from both budgets or from neither") {
    rate_budgets b(budgets_of(1, 1000), false);
    auto e = b.endpoint("POST /v1/x");
    CHECK(b.reserve(e, t0, no_deadline).wait == 0s);
    auto refused = b.reserve(e, t0, t0 + 999ms); // room at t0 + 1 s, after the deadline
    CHECK_FALSE(refused.granted);
    CHECK(refused.wait == 1s);
    CHECK(b.reserve(e, t0, no_deadline).wait == 1s); // the refusal took nothing
    CHECK(b.reserve(e, t0, t0 + 2s).wait == 2s); // a deadline exactly at the room is met
}

TEST_CASE("rate budgets: a burst goes at once after a lull, then the rate holds") {
    rate_budgets b(budgets_of(10, 1000, 3), false);
    auto e = b.endpoint("POST /v1/x");
    for (int i = 0; i < 3; ++i) CHECK(b.reserve(e, t0, no_deadline).wait == 0ms);
    CHECK(b.reserve(e, t0, no_deadline).wait == 100ms);
    // After a lull of a second the burst is back, not ten saved-up requests.
    auto later = t0 + 1100ms;
    for (int i = 0; i < 3; ++i) CHECK(b.reserve(e, later, no_deadline).wait == 0ms);
    CHECK(b.reserve(e, later, no_deadline).wait > 0ms);
}

TEST_CASE("rate budgets: a 429 cuts the budget its reason names, which climbs back slowly") {
    rate_budget_config cfg = budgets_of(100, 10);
    cfg.backoff_factor = 0.5;
    cfg.recovery_per_second = 0.1; // 1/s per second for a 10/s budget
    rate_budgets b(cfg, false);
    auto e = b.endpoint("POST /v1/x");
    b.rate_limited(rate_limit_reason::endpoint_rate, e, t0);
    CHECK(b.endpoint_rate(e, t0) == doctest::Approx(5));
    CHECK(b.account_rate(t0) == doctest::Approx(100)); // untouched
    CHECK(b.endpoint_rate(e, t0 + 2s) == doctest::Approx(7));
    CHECK(b.endpoint_rate(e, t0 + 5s) == doctest::Approx(10));
    CHECK(b.endpoint_rate(e, t0 + 60s) == doctest::Approx(10)); // never above the configured rate
    b.rate_limited(rate_limit_reason::global_rate, e, t0);
    CHECK(b.account_rate(t0) == doctest::Approx(50));
    b.rate_limited(rate_limit_reason::none, e, t0 + 60s); // a lock_timeout says nothing of rates
    CHECK(b.endpoint_rate(e, t0 + 60s) == doctest::Approx(10));
}

TEST_CASE("rate budgets: 429s close together cut once, and a cut never goes below a tenth") {
    rate_budgets b(budgets_of(100, 10), false);
    auto e = b.endpoint("POST /v1/x");
    // Sixteen calls in flight meet the overload together: one cut, not sixteen.
    for (int i = 0; i < 16; ++i) b.rate_limited(rate_limit_reason::endpoint_rate, e, t0 + std::chrono::milliseconds(i));
    CHECK(b.endpoint_rate(e, t0 + 16ms) == doctest::Approx(5 + 0.016));
    // Overload after overload, a second apart, stops at a tenth of the rate.
    for (int i = 1; i <= 20; ++i) b.rate_limited(rate_limit_reason::endpoint_rate, e, t0 + std::chrono::seconds(i));
    CHECK(b.endpoint_rate(e, t0 + 20s) == doctest::Approx(1));
    // And the next request is charged that rate's interval, not more.
    auto at = t0 + 20s;
    auto first = b.reserve(e, at, no_deadline).wait;
    auto second = b.reserve(e, at, no_deadline).wait;
    CHECK(second - first <= 1s);
}

TEST_CASE("rate budgets: a cut never lets a burst through at once") {
    rate_budgets b(budgets_of(1e6, 25, 10), false); // burst 10
    auto e = b.endpoint("POST /v1/x");
    int at_once = 0;
    while (b.reserve(e, t0, no_deadline).wait == 0ms) ++at_once;
    CHECK(at_once == 10);
    b.rate_limited(rate_limit_reason::endpoint_rate, e, t0);
    CHECK(b.reserve(e, t0, no_deadline).wait > 0ms); // the bucket stays as empty as it was
}

TEST_CASE("rate budgets: by default a budget paces under the limit, with room for jitter, and uses most of it") {
    rate_budgets b(rate_budget_config{}, false); // a test key: 25/s for the account and the endpoint
    auto e = b.endpoint("POST /v1/accounts/:account/login_links");
    auto sends = sends_until(b, e, t0, t0 + 20s);
    // A limiter counting any one-second window: sends that arrive up to 40 ms early or late
    // still put at most 25 in one, as long as no window of 1.08 s holds more.
    CHECK(most_within(sends, 1080ms) <= 25);
    CHECK(most_within(sends, 1000ms) <= 24);
    CHECK(sends.size() >= 20 * 25 * 85 / 100); // at least 85 % of the limit used
    rate_budgets live(rate_budget_config{}, true);
    CHECK(live.account_rate(t0) == doctest::Approx(90)); // 100/s for a live key, paced at 90 %
}

TEST_CASE("rate budgets: by default one 429 costs a budget less than a fifth of a second's requests") {
    rate_budgets kept(rate_budget_config{}, false), limited(rate_budget_config{}, false);
    auto e = kept.endpoint("POST /v1/accounts/:account/login_links");
    REQUIRE(limited.endpoint("POST /v1/accounts/:account/login_links") == e);
    auto all = sends_until(kept, e, t0, t0 + 10s);
    auto fewer = sends_until(limited, e, t0, t0 + 10s, t0 + 5s);
    INFO("sends without a 429: " << all.size() << ", with one: " << fewer.size());
    CHECK(fewer.size() < all.size());
    CHECK(all.size() - fewer.size() <= 4); // 22.5/s: a fifth of a second is 4.5 requests
    CHECK(limited.endpoint_rate(e, t0 + 6100ms) == doctest::Approx(kept.endpoint_rate(e, t0 + 6100ms))); // back in 1 s
}

TEST_CASE("rate budgets: a call whose deadline has passed is not refused by the budget") {
    rate_budgets b(budgets_of(1, 1000), false);
    auto e = b.endpoint("POST /v1/x");
    auto late = b.reserve(e, t0, t0 - 1ms); // room now, the deadline behind: its next step ends it
    CHECK(late.granted);
    CHECK(late.wait == 0ms);
}

TEST_CASE("rate budgets: the table of endpoints is bounded; names past it share one budget") {
    rate_budgets b(budgets_of(1e6, 25), false);
    std::set<std::size_t> seen;
    for (int i = 0; i < 1000; ++i) seen.insert(b.endpoint("GET /v1/thing" + std::to_string(i)));
    CHECK(seen.size() <= rate_budgets::max_endpoints);
    CHECK(seen.count(rate_budgets::shared_endpoint) == 1);
}

TEST_CASE("rate budgets: an endpoint is named by its method and its path with ids replaced") {
    CHECK(endpoint_name("POST", "/v1/accounts/acct_1032D82eZvKYlo2C/login_links") ==
          "POST /v1/accounts/:account/login_links");
    CHECK(endpoint_name("POST", "/v1/accounts/acct_1/login_links") == "POST /v1/accounts/:account/login_links");
    CHECK(endpoint_name("POST", "/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa/confirm") ==
          "POST /v1/payment_intents/:id/confirm");
    CHECK(endpoint_name("GET", "/v1/customers?limit=3&starting_after=cus_9s6XKzkNRiz8i3") == "GET /v1/customers");
    CHECK(endpoint_name("GET", "/v1/checkout/sessions") == "GET /v1/checkout/sessions");
    CHECK(endpoint_name("DELETE", "/v1/customers/cus_NffrFeUfNV2Hib") == "DELETE /v1/customers/:id");
    CHECK(endpoint_name("POST", "/v1/account_links") == "POST /v1/account_links");
    CHECK(endpoint_name("GET", "/v1/checkout/sessions/cs_test_a1B2c3D4e5") == "GET /v1/checkout/sessions/:id");
    CHECK(endpoint_name("POST", "/v1/subscription_schedules/sub_sched_1Mr3YX2eZvKYlo2C/cancel") ==
          "POST /v1/subscription_schedules/:id/cancel");
    CHECK(endpoint_name("GET", "/v1/test_helpers/test_clocks") == "GET /v1/test_helpers/test_clocks");
}

TEST_CASE("rate budgets: a fleet member's share divides every rate and the burst, the account's from the key") {
    rate_budget_config cfg;
    cfg.burst = 6;
    cfg.endpoints.push_back({"POST /v1/customers", 40});
    auto test_share = share_of(cfg, false, 4);
    CHECK(test_share.account_per_second == doctest::Approx(25.0 / 4));
    CHECK(test_share.endpoint_per_second == doctest::Approx(25.0 / 4));
    CHECK(test_share.endpoints.at(0).per_second == doctest::Approx(10));
    CHECK(test_share.burst == doctest::Approx(1.5));
    auto live_share = share_of(cfg, true, 10);
    CHECK(live_share.account_per_second == doctest::Approx(10));
    CHECK(live_share.burst == doctest::Approx(1)); // never below one request
    cfg.account_per_second = 60;
    CHECK(share_of(cfg, true, 3).account_per_second == doctest::Approx(20));
}

TEST_CASE("rate budgets: an endpoint's index gives back its name, the same in a share made alike") {
    rate_budget_config cfg;
    cfg.endpoints.push_back({"POST /v1/customers", 40});
    rate_budgets whole(cfg, false), share(share_of(cfg, false, 2), false);
    auto a = whole.endpoint("POST /v1/accounts/:account/login_links");
    CHECK(share.endpoint("POST /v1/accounts/:account/login_links") == a);
    CHECK(whole.name(a) == "POST /v1/accounts/:account/login_links");
    CHECK(whole.name(whole.endpoint("POST /v1/customers")) == "POST /v1/customers");
    CHECK(whole.name(rate_budgets::shared_endpoint) == "(other endpoints)");
    CHECK(whole.name(9999) == "(other endpoints)");
}

TEST_CASE("rate budgets: charged as requests go, the full budget paces them whatever gave their room") {
    // With a shared budget, every request is charged to the client's full budget as it goes
    // (pace_then_take_connection): in the order requests go, whatever order their room was given in.
    rate_budgets full(budgets_of(25, 25), false);
    auto e = full.endpoint("POST /v1/x");
    // A fleet of one whose Redis connection flaps: Redis's room (honest, 25/s) and the local
    // share's (25/s too) fall due together; the full budget lets them go 40 ms apart.
    std::vector<time_point> due{t0, t0, t0 + 40ms, t0 + 40ms, t0 + 80ms, t0 + 80ms};
    std::vector<time_point> sent;
    for (time_point at : due) {
        auto room = full.reserve(e, at, no_deadline);
        REQUIRE(room.granted);
        sent.push_back(at + room.wait);
    }
    for (std::size_t i = 1; i < sent.size(); ++i) CHECK(sent[i] - sent[i - 1] == 40ms);
    // One member of a fleet of two, given every other 40 ms by Redis (its answers came back in
    // any order across its connections): charged as they go, none waits.
    rate_budgets member(budgets_of(25, 25), false);
    auto m = member.endpoint("POST /v1/x");
    for (int i = 0; i < 10; ++i) CHECK(member.reserve(m, t0 + i * 80ms, no_deadline).wait == 0ms);
}

TEST_CASE("rate budgets: a share counts Redis's room, owing at most one interval past it") {
    // A fleet of 4: the share is 6.25/s (160 ms). Redis may give one member the whole 25/s.
    rate_budgets share(share_of(budgets_of(25, 25), false, 4), false);
    auto e = share.endpoint("POST /v1/x");
    share.count(e, t0, t0); // Redis's room now: the share's next comes an interval later
    CHECK(share.reserve(e, t0, no_deadline).wait == 160ms);
    for (int i = 0; i < 25; ++i) share.count(e, t0 + 1s + i * 40ms, t0 + 1s);
    // The last went at t0 + 1.96 s. Charged in full, the share would owe 25 x 160 ms = 4 s; it
    // owes one interval past the last request, so Redis going away locks nothing out for long.
    CHECK(share.reserve(e, t0 + 1960ms, no_deadline).wait == 160ms);
    // Counted out of order, it still owes one interval past the latest.
    rate_budgets other(share_of(budgets_of(25, 25), false, 4), false);
    auto o = other.endpoint("POST /v1/x");
    other.count(o, t0 + 400ms, t0);
    other.count(o, t0 + 40ms, t0);
    CHECK(other.reserve(o, t0, no_deadline).wait == 560ms);
}

TEST_CASE("rate budgets: Stripe-Rate-Limited-Reason values") {
    CHECK(parse_rate_limit_reason("global-rate") == rate_limit_reason::global_rate);
    CHECK(parse_rate_limit_reason("endpoint-rate") == rate_limit_reason::endpoint_rate);
    CHECK(parse_rate_limit_reason("global-concurrency") == rate_limit_reason::global_concurrency);
    CHECK(parse_rate_limit_reason("endpoint-concurrency") == rate_limit_reason::endpoint_concurrency);
    CHECK(parse_rate_limit_reason("resource-specific") == rate_limit_reason::resource_specific);
    CHECK(parse_rate_limit_reason("") == rate_limit_reason::none);
    CHECK(parse_rate_limit_reason("something-new") == rate_limit_reason::other);
}

} // TEST_SUITE("unit")
