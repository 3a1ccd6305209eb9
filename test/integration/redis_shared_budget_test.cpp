// The shared rate budget end to end: clients with config::shared_budget against a real
// redis-server (test/support/redis_process.hpp) and fake_stripe enforcing Stripe-shaped limits,
// over TLS on loopback. Two clients on one budget keep the server's limit together; with Redis
// down from the start, killed mid-run, restarted (NOSCRIPT: a fresh server holds no script) or
// stopped without closing (SIGSTOP), calls go on under the local share and none hangs; a call
// waiting for Redis's answer ends at once when cancelled or when the client shuts down; rediss://
// connects to a TLS-only server and refuses one whose certificate names another host. Real time,
// bounded: each case takes under 3 s.
#include "integration/fixture.hpp"
#include "integration/test_pki.hpp"
#include "support/redis_process.hpp"
#include "support/run_until.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <string>
#include <vector>

using namespace test;
using stripe_asio::errc;
using stripe_asio::error_code;

namespace {

fake_stripe::options limited_to(double per_second, double burst) {
    fake_stripe::options o;
    o.rate_limits.endpoint_per_second = per_second;
    o.rate_limits.burst = burst;
    return o;
}

stripe_asio::config shared_config(const fake_stripe& server, const std::string& redis_url, unsigned fleet = 1) {
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true; // a test key: 25/s for the account and for the endpoint
    cfg.shared_budget.url = redis_url;
    cfg.shared_budget.fleet_size = fleet;
    cfg.shared_budget.command_timeout = 300ms;
    cfg.shared_budget.reconnect_min = 10ms;
    cfg.shared_budget.reconnect_max = 50ms;
    return cfg;
}

bool connected(asio::io_context& io, const stripe_asio::client& c, std::uint64_t connections = 2) {
    return run_until(io, [&] { return c.stats().shared_budget_connections == connections; });
}

struct tally {
    int ok = 0, rate_limited = 0, other = 0, done = 0;
    error_code last;
};

/// `calls` login links on each client, all at once; runs until all are done (bounded).
tally burst(asio::io_context& io, std::vector<stripe_asio::client*> clients, int calls,
            std::chrono::milliseconds limit = 5s) {
    tally t;
    for (auto* c : clients)
        for (int i = 0; i < calls; ++i)
            c->create_login_link("acct_1032D82eZvKYlo2C", [&t](error_code ec, stripe_asio::diagnostics, auto) {
                ++t.done;
                if (!ec) ++t.ok;
                else if (ec == errc::rate_limit) ++t.rate_limited;
                else ++t.other, t.last = ec;
            });
    int expected = calls * static_cast<int>(clients.size());
    CHECK(run_until(
        io, [&] { return t.done == expected; }, limit));
    return t;
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("shared budget: two clients on one Redis budget keep a server's 25/s together, with no 429") {
    redis_process redis;
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    stripe_asio::client a(io, shared_config(server, redis.url())), b(io, shared_config(server, redis.url()));
    REQUIRE(connected(io, a));
    REQUIRE(connected(io, b));
    auto t = burst(io, {&a, &b}, 20);
    CHECK(t.ok == 40);
    CHECK(t.rate_limited == 0);
    CHECK(server.rate_limited_answers() == 0);
    for (std::uint64_t n : server.admitted_per_second()) CHECK(n <= 25 + 3);
    CHECK(a.stats().shared_budget_reservations + b.stats().shared_budget_reservations == 40);
    CHECK(a.stats().shared_budget_fallbacks + b.stats().shared_budget_fallbacks == 0);
}

TEST_CASE("shared budget: without it, the same two clients each keep their own 25/s and meet 429s") {
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true;
    stripe_asio::client a(io, cfg), b(io, cfg);
    auto t = burst(io, {&a, &b}, 20);
    CHECK(t.rate_limited > 0);
    CHECK(t.ok + t.rate_limited == 40);
}

TEST_CASE("shared budget: calls made as the client is made wait for its first connection and take room in Redis") {
    redis_process redis;
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    stripe_asio::client c(io, shared_config(server, redis.url()));
    REQUIRE(c.stats().shared_budget_connections == 0);
    auto t = burst(io, {&c}, 5); // asked before any connection to Redis is up
    CHECK(t.ok == 5);
    CHECK(c.stats().shared_budget_reservations == 5);
    CHECK(c.stats().shared_budget_fallbacks == 0);
}

TEST_CASE("shared budget: a first connection that hangs holds the calls for its connect timeout, then the local "
          "share") {
    asio::io_context listener_io;
    // Takes the connection (the kernel's backlog) and never answers: AUTH waits for ever.
    asio::ip::tcp::acceptor silent(listener_io, {asio::ip::make_address("127.0.0.1"), 0});
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    auto cfg = shared_config(server, "redis://:pw@127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
    cfg.shared_budget.connect_timeout = 300ms;
    cfg.shared_budget.command_timeout = 300ms;
    auto started = std::chrono::steady_clock::now();
    stripe_asio::client c(io, cfg);
    auto t = burst(io, {&c}, 3);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(t.ok == 3);
    CHECK(c.stats().shared_budget_fallbacks == 3);
    CHECK(c.stats().shared_budget_reservations == 0);
    CHECK(took >= 300ms); // they waited for the attempt rather than fall back at once
    CHECK(took < 300ms + 300ms + 1s); // and no longer than it, and the answer's time, allow

    // A call whose deadline comes first is not held past it.
    stripe_asio::client d(io, cfg);
    stripe_asio::request_options short_deadline;
    short_deadline.call_timeout = 100ms;
    std::optional<error_code> ended;
    started = std::chrono::steady_clock::now();
    d.create_login_link("acct_1032D82eZvKYlo2C", short_deadline, [&](error_code ec, auto, auto) { ended = ec; });
    REQUIRE(run_until(io, [&] { return ended.has_value(); }));
    CHECK(std::chrono::steady_clock::now() - started < 290ms);
}

TEST_CASE("shared budget: with Redis down from the start, calls take the local share (budget / fleet size)") {
    unsigned short closed_port = [] {
        asio::io_context io;
        asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
        return acc.local_endpoint().port();
    }(); // nothing listens there once the acceptor is gone
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    stripe_asio::client c(io, shared_config(server, "redis://127.0.0.1:" + std::to_string(closed_port), 2));
    auto started = std::chrono::steady_clock::now();
    auto t = burst(io, {&c}, 8);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(t.ok == 8);
    CHECK(c.stats().shared_budget_fallbacks == 8);
    CHECK(c.stats().shared_budget_reservations == 0);
    // Half of 25/s: 8 requests, burst 1, need 7 intervals of 80 ms.
    CHECK(took >= 7 * 80ms - 5ms);
}

TEST_CASE("shared budget: Redis killed mid-run, then restarted: the local share, then the shared budget again") {
    redis_process redis;
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    stripe_asio::client c(io, shared_config(server, redis.url()));
    REQUIRE(connected(io, c));
    CHECK(burst(io, {&c}, 5).ok == 5);
    CHECK(c.stats().shared_budget_reservations == 5);

    redis.stop();
    REQUIRE(run_until(io, [&] { return c.stats().shared_budget_connections == 0; }));
    auto down = burst(io, {&c}, 5);
    CHECK(down.ok == 5);
    CHECK(c.stats().shared_budget_fallbacks == 5);
    CHECK(c.stats().calls_in_flight == 0);

    redis.restart(); // empty: the script is gone, so the next question meets NOSCRIPT
    REQUIRE(connected(io, c));
    auto failures = c.stats().shared_budget_failures;
    CHECK(burst(io, {&c}, 5).ok == 5);
    CHECK(c.stats().shared_budget_reservations == 10);
    CHECK(c.stats().shared_budget_failures == failures); // NOSCRIPT was answered by loading the script
    CHECK(server.rate_limited_answers() == 0);
}

TEST_CASE("shared budget: a Redis that stops answering costs each call at most the command timeout") {
    redis_process redis;
    fake_stripe server(limited_to(25, 3));
    asio::io_context io;
    auto cfg = shared_config(server, redis.url());
    cfg.shared_budget.command_timeout = 100ms;
    stripe_asio::client c(io, cfg);
    REQUIRE(connected(io, c));
    redis.pause();
    auto started = std::chrono::steady_clock::now();
    auto t = burst(io, {&c}, 3);
    CHECK(t.ok == 3);
    CHECK(c.stats().shared_budget_failures >= 1);
    CHECK(c.stats().shared_budget_fallbacks == 3);
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    redis.resume();
}

TEST_CASE("shared budget: a call waiting for Redis's answer ends at once when cancelled or shut down") {
    redis_process redis;
    fake_stripe server;
    asio::io_context io;
    auto cfg = shared_config(server, redis.url());
    cfg.shared_budget.command_timeout = 20s; // the wait for the answer would be long
    std::optional<stripe_asio::client> c;
    c.emplace(io, cfg);
    REQUIRE(connected(io, *c));
    redis.pause();

    asio::cancellation_signal cancel;
    std::optional<error_code> cancelled, shut_down;
    c->create_login_link(
        "acct_1032D82eZvKYlo2C",
        asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec, auto, auto) { cancelled = ec; }));
    c->create_login_link("acct_1032D82eZvKYlo2C", [&](error_code ec, auto, auto) { shut_down = ec; });
    auto started = std::chrono::steady_clock::now();
    run_until(
        io, [] { return false; }, 100ms); // both are waiting for Redis now
    CHECK(!cancelled);
    cancel.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(io, [&] { return cancelled.has_value(); }));
    CHECK(*cancelled == asio::error::operation_aborted);
    c.reset(); // the destructor shuts the client down
    REQUIRE(run_until(io, [&] { return shut_down.has_value(); }));
    CHECK(*shut_down == errc::client_shut_down);
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    redis.resume();
}

TEST_CASE(
    "shared budget: rediss:// connects to a TLS-only Redis, and refuses one whose certificate names another host") {
    const auto& pki = test_pki::shared();
    fake_stripe server;
    {
        redis_process redis({}, redis_process::tls_identity{pki.good().chain_pem, pki.good().key_pem});
        asio::io_context io;
        auto cfg = shared_config(server, redis.url());
        cfg.shared_budget.ca_pem = pki.ca_pem();
        stripe_asio::client c(io, cfg);
        REQUIRE(connected(io, c));
        CHECK(burst(io, {&c}, 2).ok == 2);
        CHECK(c.stats().shared_budget_reservations == 2);
    }
    {
        redis_process redis({}, redis_process::tls_identity{pki.wrong_name().chain_pem, pki.wrong_name().key_pem});
        asio::io_context io;
        auto cfg = shared_config(server, redis.url());
        cfg.shared_budget.ca_pem = pki.ca_pem();
        stripe_asio::client c(io, cfg);
        run_until(
            io, [] { return false; }, 200ms); // time to try, and fail, to connect
        CHECK(c.stats().shared_budget_connections == 0);
        CHECK(burst(io, {&c}, 2).ok == 2); // under the local share
        CHECK(c.stats().shared_budget_fallbacks == 2);
    }
}

TEST_CASE("shared budget: a bad URL is an invalid_config that never shows the password") {
    stripe_asio::config cfg;
    cfg.api_key = "sk_test_123";
    for (std::string url : {"http://h", "redis://:s3cret@", "redis://:s3cret@h:99999", "redis://:s3cret@h/x"}) {
        cfg.shared_budget.url = url;
        try {
            cfg.validate();
            FAIL("accepted " << url);
        } catch (const stripe_asio::error_with_diagnostics& e) {
            CHECK(e.code() == errc::invalid_config);
            CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
            CHECK(e.get_diagnostics().detail.find("s3cret") == std::string::npos);
        }
    }
    cfg.shared_budget.url = "redis://h";
    cfg.shared_budget.ca_pem = "x";
    CHECK_THROWS_AS(cfg.validate(), stripe_asio::error_with_diagnostics);
}

} // TEST_SUITE("integration")
