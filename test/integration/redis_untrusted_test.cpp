// The shared budget against Redis answers a real redis-server never gives, from a Redis of the
// test's own (test/support/scripted_redis.hpp): grants past the question's longest wait or
// past any clock's range, everything let through, a connection that drops every other answer,
// a Redis back while the local share's requests are still due, a server that accepts
// connections and never answers. Whatever Redis says, a call neither hangs nor sends faster than
// its own client's full budget allows. Real time, bounded: each case takes well under 2 s.
#include "integration/fixture.hpp"
#include "support/run_until.hpp"
#include "support/scripted_redis.hpp"

#include <stripe_asio/impl/internal/redis_channel.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

using namespace test;
using stripe_asio::errc;
using stripe_asio::error_code;

namespace {

stripe_asio::config budget_config(const fake_stripe& server, const scripted_redis& redis) {
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true; // a test key: 25/s for the account and for the endpoint, burst 1
    cfg.shared_budget.url = redis.url();
    cfg.shared_budget.command_timeout = 300ms;
    cfg.shared_budget.reconnect_min = 5ms;
    cfg.shared_budget.reconnect_max = 20ms;
    return cfg;
}

bool is_question(const scripted_redis::command& c) { return !c.args.empty() && c.args[0] == "EVALSHA"; }

struct outcome {
    int ok = 0, failed = 0, done = 0;
    bool all_done = false;
    std::chrono::steady_clock::duration took{};
};

/// `calls` login links at once on `c`; runs until all are done, at most `limit`.
outcome burst(asio::io_context& io, stripe_asio::client& c, int calls, std::chrono::milliseconds limit) {
    outcome o;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i)
        c.create_login_link("acct_1032D82eZvKYlo2C", [&o](error_code ec, stripe_asio::diagnostics, auto) {
            ++o.done;
            ++(ec ? o.failed : o.ok);
        });
    o.all_done = run_until(
        io, [&] { return o.done == calls; }, limit);
    o.took = std::chrono::steady_clock::now() - started;
    return o;
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("shared budget: a grant the script cannot give is no answer: the local share, paced, and no call hangs") {
    struct lie {
        std::string what;
        std::chrono::milliseconds max_wait, call_timeout;
        std::function<long long(long long max_wait_us)> grant;
    };
    constexpr long long most = std::numeric_limits<long long>::max();
    const std::vector<lie> lies{
        {"one microsecond past the question's longest wait", 0ms, 0ms, [](long long w) { return w + 1; }},
        {"30 s, when the question allows 1 s", 1s, 10s, [](long long) { return 30'000'000LL; }},
        {"2^63 ns and a little more, in microseconds", 0ms, 0ms, [](long long) { return most / 1000 + 1; }},
        {"the largest integer", 0ms, 0ms, [](long long) { return most; }},
    };
    for (const lie& l : lies) {
        CAPTURE(l.what);
        fake_stripe server;
        asio::io_context io;
        scripted_redis redis(io);
        redis.answer = [&](const scripted_redis::command& c) -> std::optional<scripted_redis::reply> {
            if (!is_question(c)) return std::nullopt;
            return scripted_redis::reply{scripted_redis::reservation(true, l.grant(scripted_redis::max_wait_of(c)))};
        };
        auto cfg = budget_config(server, redis);
        cfg.rate_budget.max_wait = l.max_wait;
        cfg.call_timeout = l.call_timeout;
        stripe_asio::client c(io, cfg);
        REQUIRE(run_until(io, [&] { return c.stats().shared_budget_connections == 2; }));
        auto o = burst(io, c, 4, 1500ms);
        CHECK(o.all_done);
        CHECK(o.ok == 4);
        CHECK(redis.commands() == 4); // every call asked
        CHECK(c.stats().shared_budget_reservations == 0);
        CHECK(c.stats().shared_budget_failures == 4);
        CHECK(c.stats().shared_budget_fallbacks == 4);
        // The local share (the whole 25/s in a fleet of one, burst 1): 3 intervals of 40 ms.
        CHECK(o.took >= 3 * 40ms - 5ms);
    }
}

TEST_CASE("shared budget: a Redis that lets everything through at once cannot pass the client's own full budget") {
    fake_stripe server;
    asio::io_context io;
    scripted_redis redis(io);
    redis.answer = [](const scripted_redis::command& c) -> std::optional<scripted_redis::reply> {
        if (!is_question(c)) return std::nullopt;
        return scripted_redis::reply{scripted_redis::reservation(true, 0)};
    };
    stripe_asio::client c(io, budget_config(server, redis));
    REQUIRE(run_until(io, [&] { return c.stats().shared_budget_connections == 2; }));
    auto o = burst(io, c, 6, 1500ms);
    CHECK(o.ok == 6);
    CHECK(c.stats().shared_budget_reservations == 6);
    CHECK(o.took >= 5 * 40ms - 5ms); // 25/s, burst 1, whatever Redis granted
}

TEST_CASE("shared budget: a Redis that paces honestly but drops its connections does not double the rate") {
    fake_stripe server;
    asio::io_context io;
    scripted_redis redis(io);
    // The script's arithmetic for one budget of 25/s, burst 1, by this process's clock; every
    // connection answers two questions, then closes: the calls after that take the local share.
    auto tat = std::chrono::steady_clock::now();
    std::vector<int> answered;
    redis.answer = [&](const scripted_redis::command& c) -> std::optional<scripted_redis::reply> {
        if (!is_question(c)) return std::nullopt;
        auto now = std::chrono::steady_clock::now();
        auto at = std::max(now, tat);
        tat = at + 40ms;
        answered.resize(std::max(answered.size(), c.connection + 1));
        bool last = ++answered[c.connection] == 2;
        auto wait = std::chrono::duration_cast<std::chrono::microseconds>(at - now).count();
        return scripted_redis::reply{scripted_redis::reservation(true, wait), last};
    };
    stripe_asio::client c(io, budget_config(server, redis));
    REQUIRE(run_until(io, [&] { return c.stats().shared_budget_connections == 2; }));
    auto o = burst(io, c, 10, 1500ms);
    CHECK(o.ok == 10);
    CHECK(c.stats().shared_budget_reservations >= 2); // both ways were taken
    CHECK(c.stats().shared_budget_fallbacks >= 2);
    // One process, Redis's grants and the local share's together: 25/s, burst 1.
    CHECK(o.took >= 9 * 40ms - 5ms);
}

TEST_CASE("shared budget: a Redis back while the local share's requests are still due does not add to them") {
    fake_stripe server;
    asio::io_context io;
    scripted_redis redis(io);
    // Honest, 25/s, burst 1; while `drop` is set, every question closes its connection.
    bool drop = true;
    auto tat = std::chrono::steady_clock::now();
    redis.answer = [&](const scripted_redis::command& c) -> std::optional<scripted_redis::reply> {
        if (!is_question(c)) return std::nullopt;
        if (drop) return scripted_redis::reply{"", true};
        auto now = std::chrono::steady_clock::now();
        auto at = std::max(now, tat);
        tat = at + 40ms;
        auto wait = std::chrono::duration_cast<std::chrono::microseconds>(at - now).count();
        return scripted_redis::reply{scripted_redis::reservation(true, wait)};
    };
    stripe_asio::client c(io, budget_config(server, redis));
    REQUIRE(run_until(io, [&] { return c.stats().shared_budget_connections == 2; }));
    auto started = std::chrono::steady_clock::now();
    int done = 0;
    auto call = [&] {
        c.create_login_link("acct_1032D82eZvKYlo2C", [&](error_code ec, stripe_asio::diagnostics, auto) {
            CHECK(!ec);
            ++done;
        });
    };
    for (int i = 0; i < 5; ++i) call(); // the local share: due at 0, 40, ... 160 ms
    REQUIRE(run_until(io, [&] { return c.stats().shared_budget_fallbacks == 5; }));
    drop = false;
    REQUIRE(run_until(io, [&] { return c.stats().shared_budget_connections == 2; }));
    // Back before the share's are all gone, or the case shows less (a loaded machine may take
    // longer to reconnect; the bound below holds either way).
    WARN(std::chrono::steady_clock::now() - started < 120ms);
    for (int i = 0; i < 5; ++i) call(); // Redis's room, which has not seen the share's
    REQUIRE(run_until(
        io, [&] { return done == 10; }, 1500ms));
    CHECK(c.stats().shared_budget_reservations == 5);
    // One process: 25/s, burst 1, whichever gave the room.
    CHECK(std::chrono::steady_clock::now() - started >= 9 * 40ms - 5ms);
}

TEST_CASE("redis channel: a connection whose commands time out counts as failed: the backoff doubles") {
    using stripe_asio::detail::redis_channel;
    asio::io_context io;
    scripted_redis redis(io); // connects, and never answers
    std::string why;
    auto ep = stripe_asio::detail::parse_redis_url(redis.url(), why);
    REQUIRE(ep);
    stripe_asio::detail::redis_timeouts t;
    t.connect = 1s;
    t.command = 20ms;
    t.reconnect_min = 20ms;
    t.reconnect_max = 1s;
    auto ch = std::make_shared<redis_channel>(io.get_executor(), *ep, t);
    ch->start();
    int timed_out = 0;
    bool asking = false;
    // A PING whenever connected and none is out: each connection meets one command timeout.
    run_until(
        io,
        [&] {
            if (ch->ready() && !asking) {
                asking = true;
                ch->send("*1\r\n$4\r\nPING\r\n", [&](boost::system::error_code ec, stripe_asio::detail::resp_value) {
                    asking = false;
                    timed_out += ec == asio::error::timed_out;
                });
            }
            return false;
        },
        700ms);
    // Connections at about 0, 40, 100, 200, 380 ms (20 ms of command timeout, then 20, 40, 80,
    // 160 ms apart); without the doubling, one every 40 ms (17).
    CHECK(redis.connections() >= 3);
    CHECK(redis.connections() <= 6);
    CHECK(timed_out >= 3);
    ch->close();
    run_until(
        io, [] { return false; }, 50ms);
}

} // TEST_SUITE("integration")
