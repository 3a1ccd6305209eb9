// The fake Stripe server's rules, without sockets: authentication, routing, the login link,
// the idempotency store, Express pages and where faults come from, one request at a time.
#include <doctest/doctest.h>

#include "../../src/testing/fake_stripe/rules.hpp" // private to the library: no include path for it

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <string>
#include <string_view>

using stripe_asio::testing::fault;
using stripe_asio::testing::detail::reply;
using stripe_asio::testing::detail::request;
using stripe_asio::testing::detail::rules;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view api_key = "sk_test_rulesUnitKey42";
constexpr std::string_view base_url = "https://127.0.0.1:4242";

rules::settings settings() {
    rules::settings s;
    s.api_key = api_key;
    s.base_url = base_url;
    return s;
}

request authorized(http::verb method, std::string_view target) {
    request req{method, target, 11};
    req.set(http::field::authorization, "Bearer " + std::string(api_key));
    return req;
}

/// A valid POST /v1/accounts/{account}/login_links.
request login_request(std::string_view account = "acct_1032D82eZvKYlo2C", std::string_view key = {},
                      std::string_view body = {}) {
    request req = authorized(http::verb::post, "/v1/accounts/" + std::string(account) + "/login_links");
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    if (!key.empty()) req.set("Idempotency-Key", key);
    req.body() = body;
    req.prepare_payload();
    return req;
}

reply decide(rules& stripe, const request& req) {
    reply r;
    stripe.decide(req, r);
    return r;
}

std::string error_field(const reply& r, std::string_view field) {
    const auto v = boost::json::parse(r.body);
    const auto* member = v.at("error").as_object().if_contains(field);
    return member ? std::string(member->as_string()) : "<absent>";
}

std::string header(const reply& r, std::string_view name) {
    for (const auto& [n, v] : r.extra_headers)
        if (n == name) return v;
    return "<absent>";
}

std::string link_url(const reply& r) { return std::string(boost::json::parse(r.body).at("url").as_string()); }

} // namespace

TEST_SUITE("unit") {

TEST_CASE("fake_stripe rules: a call without an API key is a 401 asking for one") {
    rules stripe(settings());
    request req = login_request();
    req.erase(http::field::authorization);
    const reply r = decide(stripe, req);
    CHECK(r.status == 401);
    CHECK(r.what == fault::action::respond);
    CHECK(header(r, "WWW-Authenticate") == "Basic realm=\"Stripe\"");
    CHECK(error_field(r, "type") == "invalid_request_error");
    CHECK(error_field(r, "message").starts_with("You did not provide an API key."));
    CHECK(r.login_call); // the route is known; the call counts, unanswered
    CHECK(stripe.login_calls() == 1);
}

TEST_CASE("fake_stripe rules: a wrong API key is a 401 that shows only the key's prefix and end") {
    rules stripe(settings());
    request req = login_request();
    req.set(http::field::authorization, "Bearer sk_test_someoneElsesKey9876");
    const reply r = decide(stripe, req);
    CHECK(r.status == 401);
    CHECK(error_field(r, "message") == "Invalid API Key provided: sk_test_****9876");

    req.set(http::field::authorization, "Basic c2tfdGVzdF93cm9uZzo="); // "sk_test_wrong:"
    const reply basic = decide(stripe, req);
    CHECK(basic.status == 401);
    CHECK(error_field(basic, "message") == "Invalid API Key provided: sk_test_****");
}

TEST_CASE("fake_stripe rules: the API key is accepted as Bearer and as Basic user name") {
    rules stripe(settings());
    request req = login_request();
    CHECK(decide(stripe, req).status == 200);
    req.set(http::field::authorization, "Basic c2tfdGVzdF9ydWxlc1VuaXRLZXk0Mjo="); // "sk_test_rulesUnitKey42:"
    CHECK(decide(stripe, req).status == 200);
    req.set(http::field::authorization, "bearer   sk_test_rulesUnitKey42 ");
    CHECK(decide(stripe, req).status == 200);
}

TEST_CASE("fake_stripe rules: unknown paths are 404, behind authentication under /v1") {
    rules stripe(settings());
    const reply unknown = decide(stripe, authorized(http::verb::get, "/v1/nothing_here?limit=3"));
    CHECK(unknown.status == 404);
    CHECK(error_field(unknown, "message") == "Unrecognized request URL (GET: /v1/nothing_here).");
    CHECK_FALSE(unknown.login_call);

    request anonymous{http::verb::get, "/v1/nothing_here", 11};
    CHECK(decide(stripe, anonymous).status == 401);

    request outside{http::verb::get, "/health", 11};
    const reply outside_v1 = decide(stripe, outside);
    CHECK(outside_v1.status == 404);
    CHECK(error_field(outside_v1, "message") == "Unrecognized request URL (GET: /health).");
    CHECK(stripe.login_calls() == 0);
}

TEST_CASE("fake_stripe rules: the login-link route takes POST only; other methods are 404") {
    rules stripe(settings());
    const reply get = decide(stripe, authorized(http::verb::get, "/v1/accounts/acct_1032D82eZvKYlo2C/login_links"));
    CHECK(get.status == 404);
    CHECK(error_field(get, "message") ==
          "Unrecognized request URL (GET: /v1/accounts/acct_1032D82eZvKYlo2C/login_links).");
    CHECK_FALSE(get.login_call);
    CHECK(decide(stripe, authorized(http::verb::post, "/v1/accounts/acct_1/x/login_links")).status == 404);
    CHECK(stripe.login_calls() == 0);
}

TEST_CASE("fake_stripe rules: a malformed account id is Stripe's resource_missing") {
    rules stripe(settings());
    const reply r = decide(stripe, login_request("acct_%21bad"));
    CHECK(r.status == 404);
    CHECK(error_field(r, "code") == "resource_missing");
    CHECK(error_field(r, "param") == "account");
    CHECK(error_field(r, "message") == "No such account: 'acct_!bad'");
}

TEST_CASE("fake_stripe rules: a login link is {object, created, url} with a URL to its Express page") {
    rules stripe(settings());
    const reply r = decide(stripe, login_request("acct_1032D82eZvKYlo2C", {}, "expand[]=x&expand[0]=y"));
    REQUIRE(r.status == 200);
    CHECK(r.what == fault::action::respond);
    CHECK(r.content_type == "application/json");
    CHECK(r.login_call);
    CHECK_FALSE(r.replayed);
    CHECK_FALSE(r.intact); // no key: nothing to count deliveries against
    const auto v = boost::json::parse(r.body);
    CHECK(v.as_object().size() == 3);
    CHECK(v.at("object") == "login_link");
    CHECK(v.at("created").is_int64());
    const std::string url = link_url(r);
    std::string page_prefix(base_url);
    page_prefix.append("/express/acct_1032D82eZvKYlo2C/");
    REQUIRE(url.starts_with(page_prefix));
    const std::string token = url.substr(page_prefix.size());
    CHECK(token.size() == 24);

    // The link opens the dashboard once; after that, and for a forged token, it has expired.
    const std::string path = url.substr(base_url.size());
    request visit{http::verb::get, path, 11};
    const reply first = decide(stripe, visit);
    CHECK(first.status == 200);
    CHECK(first.content_type == "text/html; charset=utf-8");
    CHECK(first.body.find("Express Dashboard for acct_1032D82eZvKYlo2C") != std::string::npos);
    CHECK(decide(stripe, visit).status == 410);
    std::string forged = path;
    forged.back() = forged.back() == 'a' ? 'b' : 'a';
    CHECK(decide(stripe, request{http::verb::get, forged, 11}).status == 410);
}

TEST_CASE("fake_stripe rules: a login-link call takes expand[] only, as a form") {
    rules stripe(settings());
    const reply unknown = decide(stripe, login_request("acct_1032D82eZvKYlo2C", {}, "type=account_onboarding"));
    CHECK(unknown.status == 400);
    CHECK(error_field(unknown, "code") == "parameter_unknown");
    CHECK(error_field(unknown, "param") == "type");

    request json = login_request();
    json.set(http::field::content_type, "application/json");
    const reply not_form = decide(stripe, json);
    CHECK(not_form.status == 400);
    CHECK(error_field(not_form, "message").starts_with("Invalid request (check that your POST content type"));
}

TEST_CASE("fake_stripe rules: the same key with the same request replays the stored answer") {
    rules stripe(settings());
    const reply first = decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-replayed-1", "expand[]=x"));
    REQUIRE(first.status == 200);
    CHECK_FALSE(first.replayed);
    CHECK(first.intact);
    CHECK(first.delivery_key == "key-replayed-1");
    CHECK(stripe.idempotency().link_for_key("key-replayed-1") == link_url(first));

    const reply again = decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-replayed-1", "expand[]=x"));
    CHECK(again.status == 200);
    CHECK(again.replayed);
    CHECK(again.intact);
    CHECK(again.body == first.body);
    CHECK(stripe.idempotency().size() == 1);

    const reply other_key = decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-replayed-2", "expand[]=x"));
    CHECK_FALSE(other_key.replayed);
    CHECK(link_url(other_key) != link_url(first));
}

TEST_CASE("fake_stripe rules: the same key with another request is Stripe's idempotency_error") {
    rules stripe(settings());
    REQUIRE(decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-reused")).status == 200);
    const reply other_body = decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-reused", "expand[]=x"));
    CHECK(other_body.status == 400);
    CHECK_FALSE(other_body.replayed);
    CHECK(error_field(other_body, "type") == "idempotency_error");
    CHECK(error_field(other_body, "message").find("'key-reused'") != std::string::npos);
    const reply other_account = decide(stripe, login_request("acct_1032D82eZvKYlo2D", "key-reused"));
    CHECK(other_account.status == 400);
    CHECK(error_field(other_account, "type") == "idempotency_error");

    const reply too_long = decide(stripe, login_request("acct_1032D82eZvKYlo2C", std::string(256, 'k')));
    CHECK(too_long.status == 400);
    CHECK(error_field(too_long, "message").starts_with("Keys for idempotent requests can only be up to 255"));
}

TEST_CASE("fake_stripe rules: scripted faults go to the next valid, new login-link calls, in order") {
    rules stripe(settings());
    REQUIRE(decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-stored")).status == 200);
    fault closing = fault::with(fault::action::duplicate_response);
    closing.headers.emplace_back("Connection", "close");
    stripe.script().append({fault::stripe_error_should_retry(503, true, "api_error"), fault::with(fault::action::reset),
                            fault::delayed(250ms), closing});

    // Neither a refused call, nor another route, nor a replay takes a scripted fault.
    request wrong_key = login_request();
    wrong_key.set(http::field::authorization, "Bearer sk_test_wrong");
    CHECK(decide(stripe, wrong_key).status == 401);
    CHECK(decide(stripe, authorized(http::verb::get, "/v1/accounts")).status == 404);
    CHECK(decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-stored")).replayed);
    CHECK(stripe.script().injected() == 0);

    const reply unavailable = decide(stripe, login_request());
    CHECK(unavailable.status == 503);
    CHECK(header(unavailable, "Stripe-Should-Retry") == "true");
    CHECK(error_field(unavailable, "type") == "api_error");

    const reply reset = decide(stripe, login_request());
    CHECK(reset.what == fault::action::reset);

    const reply late = decide(stripe, login_request());
    CHECK(late.what == fault::action::respond);
    CHECK(late.status == 200);
    CHECK(late.delay == 250ms);
    CHECK(link_url(late).starts_with(base_url));

    const reply doubled = decide(stripe, login_request("acct_1032D82eZvKYlo2C", "key-doubled"));
    CHECK(doubled.what == fault::action::duplicate_response);
    CHECK_FALSE(doubled.keep_alive);
    CHECK(doubled.intact);
    CHECK(stripe.idempotency().link_for_key("key-doubled") == link_url(doubled));

    const reply normal = decide(stripe, login_request());
    CHECK(normal.what == fault::action::respond);
    CHECK(normal.status == 200);
    CHECK(normal.delay == 0ms);
    CHECK(normal.keep_alive);
    CHECK(stripe.script().injected() == 4);
}

TEST_CASE("fake_stripe rules: a scripted status with no body gets Stripe's error for it") {
    rules stripe(settings());
    fault rate_limited;
    rate_limited.status = 429;
    stripe.script().push(rate_limited);
    const reply r = decide(stripe, login_request());
    CHECK(r.status == 429);
    CHECK(error_field(r, "code") == "rate_limit");
}

TEST_CASE("fake_stripe rules: random faults follow their seed, replays included") {
    rules::settings s = settings();
    s.random_faults.rate = 1;
    s.random_faults.seed = 7;
    rules first(s), second(s);
    for (int i = 0; i < 40; ++i) {
        const std::string key = "key-random-" + std::to_string(i % 5); // some calls are replays
        const reply a = decide(first, login_request("acct_1032D82eZvKYlo2C", key));
        const reply b = decide(second, login_request("acct_1032D82eZvKYlo2C", key));
        CHECK(a.what == b.what);
        CHECK(a.status == b.status);
        CHECK(a.delay == b.delay);
    }
    CHECK(first.random().injected() == 40);
    std::uint64_t by_kind = 0;
    for (std::size_t k = 0; k < stripe_asio::testing::fake_stripe::random_fault_kinds; ++k)
        by_kind += first.random().injected(static_cast<stripe_asio::testing::fake_stripe::random_fault_kind>(k));
    CHECK(by_kind == 40);

    s.random_faults.rate = 0;
    rules calm(s);
    CHECK(decide(calm, login_request()).status == 200);
    CHECK(calm.random().injected() == 0);
}

TEST_CASE("fake_stripe rules: rate limits like Stripe's, 429 with the reason, before the idempotency store") {
    auto s = settings();
    s.rate_limits.account_per_second = 100; // one every 10 ms
    s.rate_limits.endpoint_per_second = 10; // one every 100 ms
    rules stripe(s);
    const auto t0 = std::chrono::steady_clock::now();
    reply r;
    stripe.decide(login_request("acct_1032D82eZvKYlo2C", "key-1"), r, t0);
    CHECK(r.status == 200);
    stripe.decide(login_request("acct_1032D82eZvKYlo2C", "key-2"), r, t0 + 50ms);
    CHECK(r.status == 429);
    CHECK(error_field(r, "code") == "rate_limit");
    REQUIRE(r.extra_headers.size() == 1);
    CHECK(r.extra_headers[0].first == "Stripe-Rate-Limited-Reason");
    CHECK(r.extra_headers[0].second == "endpoint-rate");
    // Another endpoint is under the account's limit only.
    stripe.decide(authorized(http::verb::get, "/v1/balance"), r, t0 + 50ms);
    CHECK(r.status == 404);
    stripe.decide(authorized(http::verb::get, "/v1/balance"), r, t0 + 51ms);
    CHECK(r.status == 429);
    CHECK(r.extra_headers.at(0).second == "global-rate");
    // The refused key was not stored: the same key goes through once there is room.
    stripe.decide(login_request("acct_1032D82eZvKYlo2C", "key-2"), r, t0 + 100ms);
    CHECK(r.status == 200);
    CHECK_FALSE(r.replayed);
    auto per_second = stripe.limits().admitted_per_second();
    REQUIRE(per_second.size() >= 1);
    CHECK(per_second[0] == 3);
    CHECK(stripe.limits().refused() == 2);
    // Unauthenticated requests are not counted.
    request anonymous{http::verb::post, "/v1/accounts/acct_1/login_links", 11};
    stripe.decide(anonymous, r, t0 + 100ms);
    CHECK(r.status == 401);
}

TEST_CASE("fake_stripe rules: a sliding window admits at most the rate in any second, however the arrivals fall") {
    auto s = settings();
    s.rate_limits.endpoint_per_second = 3;
    s.rate_limits.burst = 10; // unused by the window
    s.rate_limits.sliding_window = true;
    rules stripe(s);
    const auto t0 = std::chrono::steady_clock::now();
    reply r;
    int key = 0;
    auto status_at = [&](std::chrono::milliseconds at) {
        stripe.decide(login_request("acct_1032D82eZvKYlo2C", "key-" + std::to_string(++key)), r, t0 + at);
        return r.status;
    };
    // Three spread over the second's end: a token bucket of 3/s would let the fourth through.
    CHECK(status_at(0ms) == 200);
    CHECK(status_at(700ms) == 200);
    CHECK(status_at(990ms) == 200);
    CHECK(status_at(1000ms) == 429); // a window closed at both ends still holds the one at 0
    CHECK(r.extra_headers.at(0).second == "endpoint-rate");
    CHECK(status_at(1001ms) == 200); // the one at 0 has left the window
    CHECK(status_at(1500ms) == 429); // 700, 990 and 1001 are within it; a refusal takes no room
    CHECK(status_at(1701ms) == 200);
    CHECK(stripe.limits().refused() == 2);
}

TEST_CASE("fake_stripe rules: rate stats as JSON, without authentication") {
    auto s = settings();
    s.rate_limits.account_per_second = 1;
    rules stripe(s);
    const auto t0 = std::chrono::steady_clock::now();
    reply r;
    stripe.decide(login_request(), r, t0);
    stripe.decide(login_request(), r, t0);
    request stats{http::verb::get, "/_fake_stripe/rate_stats", 11};
    stripe.decide(stats, r, t0);
    CHECK(r.status == 200);
    const auto v = boost::json::parse(r.body);
    CHECK(v.at("rate_limited").as_int64() == 1);
    CHECK(v.at("admitted_per_second").as_array().at(0).as_int64() == 1);
    CHECK(v.at("rate_limited_per_second").as_array().at(0).as_int64() == 1);
}
} // TEST_SUITE("unit")
