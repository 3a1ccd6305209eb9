// The Redis channel against a real redis-server: pipelining, AUTH and SELECT from the URL, a
// command timeout when the server stops answering, and reconnection when it comes back or is
// restarted. Real time, bounded: every wait here ends by a deadline of a few seconds.
#include "support/redis_process.hpp"
#include "support/run_until.hpp"

#include <stripe_asio/impl/internal/redis_channel.hpp>

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using stripe_asio::detail::append_command;
using stripe_asio::detail::parse_redis_url;
using stripe_asio::detail::redis_channel;
using stripe_asio::detail::redis_timeouts;
using stripe_asio::detail::resp_value;

using test::run_until;

namespace {

redis_timeouts quick() {
    redis_timeouts t;
    t.connect = 1s;
    t.command = 200ms;
    t.reconnect_min = 20ms;
    t.reconnect_max = 100ms;
    return t;
}

std::shared_ptr<redis_channel> channel_to(boost::asio::io_context& io, const std::string& url,
                                          redis_timeouts t = quick()) {
    std::string why;
    auto ep = parse_redis_url(url, why);
    REQUIRE_MESSAGE(ep, why);
    auto ch = std::make_shared<redis_channel>(io.get_executor(), *ep, t);
    ch->start();
    return ch;
}

struct answer {
    bool done = false;
    boost::system::error_code ec;
    resp_value value;
};

std::shared_ptr<answer> send(redis_channel& ch, std::initializer_list<std::string_view> args) {
    auto a = std::make_shared<answer>();
    std::string cmd;
    append_command(cmd, args);
    ch.send(std::move(cmd), [a](boost::system::error_code ec, resp_value v) {
        a->done = true;
        a->ec = ec;
        a->value = std::move(v);
    });
    return a;
}

/// PING until it is answered: the channel is connected and serving.
bool serving(boost::asio::io_context& io, redis_channel& ch, std::chrono::milliseconds limit = 5s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (!run_until(
                io, [&] { return ch.ready(); }, 100ms))
            continue;
        auto a = send(ch, {"PING"});
        if (run_until(
                io, [&] { return a->done; }, 1s) &&
            !a->ec)
            return true;
    }
    return false;
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("redis channel: commands sent together go out in one write and come back in order") {
    test::redis_process server;
    boost::asio::io_context io;
    auto ch = channel_to(io, server.url());
    REQUIRE(serving(io, *ch));
    auto writes_before = ch->stats().writes;
    std::vector<std::shared_ptr<answer>> answers;
    for (int i = 0; i < 200; ++i) answers.push_back(send(*ch, {"INCR", "counter"}));
    REQUIRE(run_until(io, [&] { return answers.back()->done; }));
    for (int i = 0; i < 200; ++i) {
        CHECK(answers[std::size_t(i)]->value.integer == i + 1);
        CHECK_FALSE(answers[std::size_t(i)]->ec);
    }
    CHECK(ch->stats().writes - writes_before <= 2); // the first alone, then everything queued behind it
    ch->close();
}

TEST_CASE("redis channel: AUTH and SELECT from the URL; a wrong password never serves, and is never repeated") {
    test::redis_process server({"--requirepass", "s3cret-pass"});
    boost::asio::io_context io;
    auto ch = channel_to(io, "redis://:s3cret-pass@127.0.0.1:" + std::to_string(server.port()) + "/3");
    REQUIRE(serving(io, *ch));
    auto set = send(*ch, {"SET", "where", "db3"});
    REQUIRE(run_until(io, [&] { return set->done; }));
    CHECK(set->value.text == "OK");
    ch->close();

    std::unique_ptr<redisContext, decltype(&redisFree)> check(redisConnect("127.0.0.1", server.port()), &redisFree);
    REQUIRE(check);
    freeReplyObject(redisCommand(check.get(), "AUTH s3cret-pass"));
    freeReplyObject(redisCommand(check.get(), "SELECT 3"));
    auto* got = static_cast<redisReply*>(redisCommand(check.get(), "GET where"));
    REQUIRE(got);
    CHECK(std::string(got->str ? got->str : "") == "db3");
    freeReplyObject(got);

    auto wrong = channel_to(io, "redis://:not-it@127.0.0.1:" + std::to_string(server.port()));
    CHECK_FALSE(run_until(
        io, [&] { return wrong->ready(); }, 500ms));
    CHECK_FALSE(wrong->last_error().empty());
    CHECK(wrong->last_error().find("not-it") == std::string::npos);
    auto refused = send(*wrong, {"PING"});
    REQUIRE(run_until(io, [&] { return refused->done; }));
    CHECK(refused->ec == boost::asio::error::not_connected);
    wrong->close();
}

TEST_CASE("redis channel: a server that stops answering times out its commands; when it answers again, so do they") {
    test::redis_process server;
    boost::asio::io_context io;
    auto ch = channel_to(io, server.url());
    REQUIRE(serving(io, *ch));
    server.pause();
    auto started = std::chrono::steady_clock::now();
    auto lost = send(*ch, {"PING"});
    REQUIRE(run_until(
        io, [&] { return lost->done; }, 3s));
    CHECK(lost->ec == boost::asio::error::timed_out);
    CHECK(std::chrono::steady_clock::now() - started >= 200ms);
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    server.resume();
    CHECK(serving(io, *ch));
    CHECK(ch->stats().failures >= 1);
    ch->close();
}

TEST_CASE("redis channel: a killed server fails what is in flight; restarted, it is used again") {
    test::redis_process server;
    boost::asio::io_context io;
    auto ch = channel_to(io, server.url());
    REQUIRE(serving(io, *ch));
    auto connects = ch->stats().connects;
    server.stop();
    auto in_flight = send(*ch, {"PING"});
    REQUIRE(run_until(
        io, [&] { return in_flight->done; }, 3s));
    CHECK(in_flight->ec); // lost, reset or not connected: never an answer from nowhere
    auto meanwhile = send(*ch, {"PING"});
    REQUIRE(run_until(
        io, [&] { return meanwhile->done; }, 3s));
    CHECK(meanwhile->ec);
    server.restart();
    CHECK(serving(io, *ch));
    CHECK(ch->stats().connects > connects);
    ch->close();
    io.restart();
    io.run_for(1s); // the channel's loop ends once closed: nothing keeps running
    CHECK(io.stopped());
}

TEST_CASE("redis channel: URLs") {
    std::string why;
    auto full = parse_redis_url("redis://user:pa:ss@cache.internal:6380/2", why);
    REQUIRE(full);
    CHECK(full->host == "cache.internal");
    CHECK(full->port == "6380");
    CHECK(full->user == "user");
    CHECK(full->password == "pa:ss");
    CHECK(full->db == 2);
    auto plain = parse_redis_url("redis://127.0.0.1", why);
    REQUIRE(plain);
    CHECK(plain->port == "6379");
    CHECK(plain->password.empty());
    auto v6 = parse_redis_url("redis://[::1]:7000", why);
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK_FALSE(parse_redis_url("http://127.0.0.1", why));
    CHECK_FALSE(parse_redis_url("redis://:pw@", why));
    CHECK_FALSE(parse_redis_url("redis://h:99999", why));
    CHECK_FALSE(parse_redis_url("redis://h/x", why));
    auto tls = parse_redis_url("rediss://u:pw@cache.internal:6380/2", why);
    REQUIRE(tls);
    CHECK(tls->tls);
    CHECK(tls->host == "cache.internal");
    CHECK(tls->port == "6380");
    CHECK(tls->db == 2);
    CHECK_FALSE(plain->tls);
}

} // TEST_SUITE("integration")
