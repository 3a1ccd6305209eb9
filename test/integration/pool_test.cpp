// The pool at scale: limits, idle eviction, dead idle connections, TLS resumption, min_idle,
// rate limit.
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

/// Runs `ioc` until `done()` or `limit` (a client with min_idle never runs out of work).
template <class Done>
bool run_until(asio::io_context& ioc, Done done, std::chrono::milliseconds limit) {
    auto give_up = std::chrono::steady_clock::now() + limit;
    ioc.restart();
    while (!done() && std::chrono::steady_clock::now() < give_up) ioc.run_one_for(10ms);
    return done();
}

/// True when `ioc` has nothing left to run: nothing of the client keeps it busy.
bool runs_dry(asio::io_context& ioc) {
    ioc.restart();
    ioc.run_for(2s);
    return ioc.stopped();
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
    REQUIRE_SUCCEEDED(ec, diag);
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
    REQUIRE_SUCCEEDED(ec, diag);
    CHECK(link.meta.attempts == 1);
    CHECK_FALSE(link.meta.stale_connection_retried);
    auto stats = client.stats();
    CHECK(stats.stale_detected_before_use == 1);
    CHECK(stats.connections_opened == 2);
    CHECK(stats.tls_full_handshakes == 1);
    CHECK(stats.tls_resumed_handshakes == 1);
}

TEST_CASE("min_idle opens connections before any call, the calls use them, and shutdown stops the upkeep") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.min_idle = 3;
    auto client = std::make_unique<stripe_asio::client>(ioc, cfg);
    REQUIRE(run_until(
        ioc, [&] { return client->stats().idle_connections == 3; }, 5000ms));
    CHECK(server.connections_accepted() == 3);
    CHECK(client->stats().calls_started == 0);

    bool done = false;
    stripe_asio::error_code result = stripe_asio::errc::connection_error;
    client->create_login_link("acct_1032D82eZvKYlo2C", [&](auto ec, auto, auto) {
        result = ec;
        done = true;
    });
    REQUIRE(run_until(
        ioc, [&] { return done; }, 5000ms));
    CHECK_FALSE(result);
    auto s = client->stats();
    CHECK(s.connections_opened == 3);
    CHECK(s.connection_reuses == 1);
    CHECK(s.tls_full_handshakes + s.tls_resumed_handshakes == 3);
    CHECK(server.connections_accepted() == 3);
    client.reset();
    CHECK(runs_dry(ioc));
}

TEST_CASE("min_idle replaces warm connections the server closed, and those past idle_timeout") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.min_idle = 2;
    cfg.idle_timeout = 400ms; // checked every 200 ms
    auto client = std::make_unique<stripe_asio::client>(ioc, cfg);
    REQUIRE(run_until(
        ioc, [&] { return client->stats().idle_connections == 2; }, 5000ms));

    server.close_idle_connections();
    REQUIRE(run_until(
        ioc, [&] { return server.connections_accepted() == 4; }, 5000ms));
    REQUIRE(run_until(
        ioc, [&] { return client->stats().idle_connections == 2; }, 5000ms));
    CHECK(client->stats().stale_detected_before_use == 2);

    // Left idle past idle_timeout, they are closed and opened again.
    REQUIRE(run_until(
        ioc, [&] { return client->stats().idle_evictions >= 2; }, 5000ms));
    REQUIRE(run_until(
        ioc, [&] { return client->stats().idle_connections == 2; }, 5000ms));
    CHECK(client->stats().open_connections == 2);
    client.reset();
    CHECK(runs_dry(ioc));
}

TEST_CASE("the rate budget spaces requests out, and refuses a call whose room comes after its deadline") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.account_per_second = 100;
    cfg.rate_budget.endpoint_per_second = 1000;
    cfg.rate_budget.burst = 1;
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
    CHECK(std::count(results.begin(), results.end(), errc::rate_budget_exhausted) >= 2);
}

} // TEST_SUITE("integration")
