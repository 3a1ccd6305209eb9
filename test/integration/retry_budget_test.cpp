// The client-wide retry budget and the connect timeout, against real TLS on loopback.
#include "integration/fixture.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>

using namespace test;
using stripe_asio::errc;

TEST_SUITE("integration") {

TEST_CASE("when every answer is a 500, the retry budget keeps calls near one request each") {
    constexpr int calls = 40;
    for (bool budget_on : {true, false}) {
        CAPTURE(budget_on);
        fake_stripe server;
        std::vector<fault> failing(calls * 3, fault::stripe_error(500, "api_error"));
        server.script(failing);
        asio::io_context ioc;
        auto cfg = config_for(server);
        cfg.retry.initial_delay = 1ms;
        cfg.retry.max_delay = 1ms;
        if (!budget_on) cfg.retry.budget_max_tokens = 0;
        stripe_asio::client client(ioc, cfg);
        for (int i = 0; i < calls; ++i) {
            auto [ec, diag, link] = make_link(ioc, client);
            CHECK(ec == errc::api_error);
        }
        double per_call = double(server.request_count()) / calls;
        if (budget_on) {
            // 10 tokens, retries only above 5: the first calls retry, then none do.
            CHECK(per_call <= 1.2);
            CHECK(client.stats().retries_throttled > 0);
        } else {
            CHECK(per_call == 3.0);
            CHECK(client.stats().retries_throttled == 0);
        }
    }
}

TEST_CASE("the retry budget refills with successes") {
    fake_stripe server;
    std::vector<fault> failing(30, fault::stripe_error(500, "api_error"));
    server.script(failing);
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.initial_delay = 1ms;
    cfg.retry.max_delay = 1ms;
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    for (int i = 0; i < 30; ++i) make_link(ioc, client); // spends the budget
    // 80 successes earn 8 tokens back; the next failure spends one, leaving more than half of 10.
    for (int i = 0; i < 80; ++i) REQUIRE(!std::get<0>(make_link(ioc, client)));
    server.script({fault::stripe_error(500, "api_error"), fault::stripe_error(500, "api_error")});
    stripe_asio::request_options retry_once;
    retry_once.max_retries = 1;
    auto [ec, diag, link] = make_link(ioc, client, "acct_1032D82eZvKYlo2C", retry_once);
    CHECK(ec == errc::api_error);
    CHECK(diag.attempts == 2); // retried again
}

TEST_CASE("connect_timeout bounds a TLS handshake that never finishes, within a longer attempt") {
    asio::io_context ioc;
    // Listening, never accepting: the kernel completes TCP, nobody answers the ClientHello.
    asio::ip::tcp::acceptor silent(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    fake_stripe server; // only for its CA and key
    auto cfg = config_for(server);
    cfg.base_url = "https://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
    cfg.attempt_timeout = 30s;
    cfg.connect_timeout = 200ms;
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    auto started = std::chrono::steady_clock::now();
    auto [ec, diag, link] = make_link(ioc, client);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(ec == errc::connection_error);
    CHECK(diag.detail.find("connect_timeout") != std::string::npos);
    CHECK(took < 5s); // bounded by connect_timeout, not by the 30 s attempt
    CHECK(client.stats().calls_in_flight == 0);
    CHECK(client.stats().open_connections == 0);
}

TEST_CASE("a connection opened under connect_timeout gets the attempt's whole time for its answer") {
    fake_stripe server;
    server.push(fault::delayed(400ms));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.connect_timeout = 200ms; // shorter than the answer's delay: it must not apply to the read
    cfg.attempt_timeout = 5s;
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK_SUCCEEDED(ec, diag);
}

} // TEST_SUITE("integration")
