// The pool at scale: limits, idle eviction, dead idle connections, TLS resumption, rate limit.
#include "integration/fixture.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <map>

using namespace test;
using stripe_asio::errc;

namespace {

void wait_for(asio::io_context& ioc, std::chrono::milliseconds d) {
    asio::steady_timer t(ioc, d);
    t.async_wait([](auto) {});
    ioc.restart();
    ioc.run();
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("10,000 concurrent calls never use more than max_connections connections") {
    fake_stripe::options opts;
    opts.record_requests = false;
    fake_stripe server(opts);
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections = 16;
    stripe_asio::client client(ioc, cfg);
    int ok = 0;
    std::map<std::string, int> failures;
    for (int i = 0; i < 10'000; ++i) {
        client.create_login_link("acct_1032D82eZvKYlo2C", [&](auto ec, auto, stripe_asio::login_link link) {
            if (!ec && link.object == "login_link") ++ok;
            else ++failures[stripe_asio::error_kind(ec)];
        });
    }
    ioc.run();
    CHECK(ok == 10'000);
    CHECK(failures.empty());
    CHECK(server.max_connections_open() <= 16);
    CHECK(server.connections_accepted() <= 16);
    auto stats = client.stats();
    CHECK(stats.connections_opened <= 16);
    CHECK(stats.tls_full_handshakes + stats.tls_resumed_handshakes == stats.connections_opened);
    CHECK(stats.waiters == 0);
    CHECK(stats.calls_in_flight == 0);
    CHECK(stats.idle_connections == stats.open_connections);
}

TEST_CASE("connections idle longer than idle_timeout are closed, not reused") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.idle_timeout = 20ms;
    stripe_asio::client client(ioc, cfg);
    REQUIRE(!std::get<0>(make_link(ioc, client)));
    wait_for(ioc, 40ms);
    auto [ec, diag, link] = make_link(ioc, client);
    REQUIRE_MESSAGE(!ec, diag.to_string());
    CHECK(link.meta.attempts == 1);
    CHECK(client.stats().idle_evictions == 1);
    CHECK(server.connections_accepted() == 2);
}

TEST_CASE("an idle connection the server closed is noticed before reuse, and the reconnect resumes TLS") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    REQUIRE(!std::get<0>(make_link(ioc, client)));
    server.close_idle_connections();
    wait_for(ioc, 300ms); // past the age at which an idle socket is checked before use
    auto [ec, diag, link] = make_link(ioc, client);
    REQUIRE_MESSAGE(!ec, diag.to_string());
    CHECK(link.meta.attempts == 1);
    CHECK_FALSE(link.meta.stale_connection_retried);
    auto stats = client.stats();
    CHECK(stats.stale_detected_before_use == 1);
    CHECK(stats.connections_opened == 2);
    CHECK(stats.tls_full_handshakes == 1);
    CHECK(stats.tls_resumed_handshakes == 1);
}

TEST_CASE("the rate limiter spaces requests out, and gives up at the deadline") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_requests_per_second = 100;
    cfg.rate_limit_burst = 1;
    stripe_asio::client client(ioc, cfg);
    int ok = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 11; ++i)
        client.create_login_link("acct_1032D82eZvKYlo2C", [&](auto ec, auto, auto) { ok += !ec; });
    ioc.run();
    CHECK(ok == 11);
    CHECK(std::chrono::steady_clock::now() - start >= 100ms); // 10 gaps of 10 ms
    CHECK(client.stats().rate_limited_waits >= 10);

    stripe_asio::request_options hurried;
    hurried.call_timeout = 15ms;
    std::vector<stripe_asio::error_code> results;
    for (int i = 0; i < 4; ++i)
        client.create_login_link("acct_1032D82eZvKYlo2C", hurried, [&](auto ec, auto, auto) { results.push_back(ec); });
    ioc.restart();
    ioc.run();
    REQUIRE(results.size() == 4);
    CHECK(std::count(results.begin(), results.end(), errc::deadline_exceeded) >= 2);
}

} // TEST_SUITE
