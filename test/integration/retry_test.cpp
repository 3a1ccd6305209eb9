// Retries, idempotency keys across attempts, stale connections and timeouts, against fake_stripe.
#include "integration/fixture.hpp"

using namespace test;
using stripe_asio::errc;

namespace {

std::vector<std::string> keys_sent(const fake_stripe& server) {
    std::vector<std::string> keys;
    for (const auto& r : server.requests()) keys.push_back(r.header("Idempotency-Key"));
    return keys;
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("500 twice then success: three attempts, one key, growing waits") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.initial_delay = 20ms;
    cfg.retry.max_delay = 1000ms;
    stripe_asio::client client(ioc, cfg);
    server.script({fault::stripe_error(500, "api_error"), fault::stripe_error(500, "api_error")});
    auto start = std::chrono::steady_clock::now();
    auto [ec, diag, link] = make_link(ioc, client);
    auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_SUCCEEDED(ec, diag);
    CHECK(link.meta.attempts == 3);
    auto keys = keys_sent(server);
    REQUIRE(keys.size() == 3);
    CHECK(keys[0] == keys[1]);
    CHECK(keys[1] == keys[2]);
    CHECK(link.meta.idempotency_key.view() == keys[0]);
    // Backoff: first wait in [20, 20] ms (never below the initial delay), second in [20, 40).
    CHECK(elapsed >= 40ms);
    CHECK(client.stats().retries == 2);
}

TEST_CASE("the retry rules follow the SDKs") {
    struct row {
        const char* name;
        fault f;
        bool retried;
        errc final_error;
    };
    std::vector<row> rows = {
        {"503", fault::stripe_error(503, "api_error"), true, errc::api_error},
        {"409", fault::stripe_error(409, "invalid_request_error", "idempotency_key_in_use"), true, errc::conflict},
        {"429 plain", fault::stripe_error(429, "invalid_request_error", "rate_limit"), false, errc::rate_limit},
        {"429 lock_timeout", fault::stripe_error(429, "invalid_request_error", "lock_timeout"), true, errc::rate_limit},
        {"400 with Stripe-Should-Retry true", fault::stripe_error_should_retry(400, true, "invalid_request_error"),
         true, errc::invalid_request},
        {"500 with Stripe-Should-Retry false", fault::stripe_error_should_retry(500, false, "api_error"), false,
         errc::api_error},
        {"400", fault::stripe_error(400, "invalid_request_error"), false, errc::invalid_request},
        {"connection closed before a response", fault::with(fault::action::close_before_response), true,
         errc::connection_error},
        {"truncated body", fault::with(fault::action::truncated_body), true, errc::connection_error},
        {"closed in the middle of the headers", fault::with(fault::action::close_mid_headers), true,
         errc::connection_error},
    };
    for (auto& r : rows) {
        CAPTURE(r.name);
        fake_stripe server;
        asio::io_context ioc;
        auto cfg = config_for(server);
        cfg.retry.max_retries = 1;
        stripe_asio::client client(ioc, cfg);
        // The fault twice: a retried call fails again, so the final error is the fault's own.
        server.script({r.f, r.f});
        auto [ec, diag, link] = make_link(ioc, client);
        CHECK(ec == r.final_error);
        CHECK(diag.attempts == (r.retried ? 2u : 1u));
        CHECK(diag.failed_attempts.size() == diag.attempts);
        CHECK(server.request_count() == diag.attempts);
        // Then the fault script is empty and the next call succeeds.
        if (r.retried) {
            auto [ec2, diag2, link2] = make_link(ioc, client);
            CHECK_SUCCEEDED(ec2, diag2);
        }
    }
}

TEST_CASE("retries exhausted: the error names the last outcome and every attempt is reported") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    // (A close before any response byte on a reused connection would count as a stale connection
    // and be resent outside the budget; a truncated body is an ordinary network failure.)
    server.script({fault::stripe_error(500, "api_error"), fault::with(fault::action::truncated_body),
                   fault::stripe_error(503, "api_error", "", "Last one.")});
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK(ec == errc::api_error);
    CHECK(diag.http_status == 503);
    CHECK(diag.message == "Last one.");
    REQUIRE(diag.failed_attempts.size() == 3);
    CHECK(diag.failed_attempts[0].http_status == 500);
    CHECK(diag.failed_attempts[1].ec == errc::connection_error);
    CHECK(diag.failed_attempts[1].http_status == 0);
    CHECK(diag.failed_attempts[2].http_status == 503);
    CHECK(diag.failed_attempts[0].wait_before_next >= 5ms);
    CHECK(diag.failed_attempts[2].wait_before_next == 0ms);
}

TEST_CASE("per-call max_retries overrides the config, and 0 means one attempt") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    server.script({fault::stripe_error(500, "api_error"), fault::stripe_error(500, "api_error")});
    stripe_asio::request_options once;
    once.max_retries = 0;
    auto [ec, diag, link] = make_link(ioc, client, "acct_1032D82eZvKYlo2C", once);
    CHECK(ec == errc::api_error);
    CHECK(diag.attempts == 1);
}

TEST_CASE("a pooled connection the server closed while idle is found before use and replaced") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    auto [ec1, diag1, link1] = make_link(ioc, client);
    REQUIRE(!ec1);
    server.close_idle_connections();

    // Every reuse reads what waits on the connection first: the close is seen before sending.
    auto [ec2, diag2, link2] = make_link(ioc, client);
    REQUIRE_SUCCEEDED(ec2, diag2);
    CHECK_FALSE(link2.meta.stale_connection_retried);
    CHECK(link2.meta.attempts == 1);
    CHECK(server.connections_accepted() == 2);
    CHECK(client.stats().stale_detected_before_use == 1);
    CHECK(client.stats().stale_resends == 0);
}

TEST_CASE("a reused connection closed before any byte of the answer is resent once, on a fresh connection") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.max_retries = 0; // the stale resend is outside the retry budget
    stripe_asio::client client(ioc, cfg);
    auto [ec1, diag1, link1] = make_link(ioc, client);
    REQUIRE(!ec1);
    server.push(fault::with(fault::action::close_before_response));

    auto [ec2, diag2, link2] = make_link(ioc, client);
    REQUIRE_SUCCEEDED(ec2, diag2);
    CHECK(link2.meta.stale_connection_retried);
    CHECK(link2.meta.attempts == 2);
    CHECK(server.connections_accepted() == 2);
    CHECK(client.stats().stale_resends == 1);

    SUBCASE("with the switch off, 0 retries means 0") {
        auto strict_cfg = cfg;
        strict_cfg.retry.retry_stale_connection = false;
        stripe_asio::client strict(ioc, strict_cfg);
        auto [ec3, diag3, link3] = make_link(ioc, strict);
        REQUIRE(!ec3);
        server.push(fault::with(fault::action::close_before_response));
        auto [ec4, diag4, link4] = make_link(ioc, strict);
        CHECK(ec4 == errc::connection_error);
        REQUIRE(diag4.failed_attempts.size() == 1);
        CHECK(diag4.failed_attempts[0].stale_connection);
        CHECK(diag4.failed_attempts[0].reused_connection);
    }
}

TEST_CASE("a server that never answers: per-attempt timeout, retries, then the deadline") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.attempt_timeout = 150ms;
    cfg.retry.max_retries = 1;
    stripe_asio::client client(ioc, cfg);

    server.script({fault::with(fault::action::hang), fault::with(fault::action::hang)});
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK(ec == errc::attempt_timeout);
    CHECK(diag.attempts == 2);
    CHECK(diag.failed_attempts[0].ec == errc::attempt_timeout);

    server.script(
        {fault::with(fault::action::hang), fault::with(fault::action::hang), fault::with(fault::action::hang)});
    stripe_asio::request_options bounded;
    bounded.call_timeout = 250ms;
    bounded.max_retries = 5;
    auto start = std::chrono::steady_clock::now();
    auto [ec2, diag2, link2] = make_link(ioc, client, "acct_1032D82eZvKYlo2C", bounded);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(ec2 == errc::deadline_exceeded);
    CHECK(diag2.attempts == 2); // 150 ms, then the deadline cuts the second attempt
    CHECK(elapsed < 2s); // bounded by the deadline, not by the retries
}

TEST_CASE("the backoff never sleeps past the deadline") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.initial_delay = 5s;
    cfg.retry.max_delay = 5s;
    stripe_asio::client client(ioc, cfg);
    server.push(fault::stripe_error(500, "api_error"));
    stripe_asio::request_options bounded;
    bounded.call_timeout = 1s;
    auto start = std::chrono::steady_clock::now();
    auto [ec, diag, link] = make_link(ioc, client, "acct_1032D82eZvKYlo2C", bounded);
    CHECK(ec == errc::api_error); // the last real outcome, not a sleep that ends in a timeout
    CHECK(diag.attempts == 1);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}

} // TEST_SUITE("integration")
