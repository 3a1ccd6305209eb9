// The shared budget's Lua script against a real redis-server (test/support/redis_process.hpp),
// driven through hiredis's plain synchronous API: its SHA-1 is the one Redis computes, a fresh
// server answers NOSCRIPT until it is loaded, it reserves in both cells or neither, spaces
// requests by Redis's clock, refuses past the longest wait, and leaves keys that expire.
#include "support/redis_process.hpp"

#include <stripe_asio/detail/shared_budget_script.hpp>

#include <doctest/doctest.h>

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

using stripe_asio::detail::shared_budget_script;
using stripe_asio::detail::shared_budget_script_sha1;
using stripe_asio::detail::shared_cell_for;

namespace {

using reply_ptr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

struct redis_link {
    explicit redis_link(unsigned short port) : c(redisConnect("127.0.0.1", port), &redisFree) {
        REQUIRE(c);
        REQUIRE_MESSAGE(c->err == 0, c->errstr);
    }
    reply_ptr command(const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(redisCommandArgv(c.get(), int(argv.size()), argv.data(), lens.data()));
        REQUIRE(r);
        return reply_ptr(r, &freeReplyObject);
    }
    std::unique_ptr<redisContext, decltype(&redisFree)> c;
};

struct reservation {
    bool granted;
    long long wait_us;
};

/// One EVALSHA: account cell at `account_per_second`, endpoint cell at `endpoint_per_second`.
reservation reserve(redis_link& r, double account_per_second, double endpoint_per_second, long long max_wait_us,
                    double burst = 1) {
    auto a = shared_cell_for(account_per_second, burst), e = shared_cell_for(endpoint_per_second, burst);
    auto reply =
        r.command({"EVALSHA", shared_budget_script_sha1(), "2", "t:account", "t:endpoint",
                   std::to_string(a.interval_us), std::to_string(a.tolerance_us), std::to_string(e.interval_us),
                   std::to_string(e.tolerance_us), std::to_string(max_wait_us)});
    REQUIRE_MESSAGE(reply->type == REDIS_REPLY_ARRAY, (reply->str ? reply->str : "not an array"));
    REQUIRE(reply->elements == 2);
    return {reply->element[0]->integer == 1, reply->element[1]->integer};
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("shared budget script: loaded by its SHA-1, reserves by Redis's clock, both cells or neither") {
    test::redis_process server;
    redis_link r(server.port());

    auto missing = r.command({"EVALSHA", shared_budget_script_sha1(), "2", "a", "b", "1", "0", "1", "0", "0"});
    REQUIRE(missing->type == REDIS_REPLY_ERROR);
    CHECK(std::string(missing->str).rfind("NOSCRIPT", 0) == 0);
    auto loaded = r.command({"SCRIPT", "LOAD", std::string(shared_budget_script)});
    REQUIRE(loaded->type == REDIS_REPLY_STRING);
    CHECK(std::string(loaded->str, loaded->len) == shared_budget_script_sha1());

    // 10/s for the endpoint (100 ms apart), 1000/s for the account: the endpoint binds.
    auto first = reserve(r, 1000, 10, 10'000'000);
    CHECK(first.granted);
    CHECK(first.wait_us == 0);
    auto second = reserve(r, 1000, 10, 10'000'000);
    CHECK(second.granted);
    CHECK(second.wait_us > 50'000); // Redis's clock moved on a little between the two
    CHECK(second.wait_us <= 100'000);

    // Past the longest wait: refused, and neither cell moves.
    auto account_before = r.command({"GET", "t:account"});
    auto endpoint_before = r.command({"GET", "t:endpoint"});
    auto refused = reserve(r, 1000, 10, 50'000);
    CHECK_FALSE(refused.granted);
    CHECK(refused.wait_us > 50'000);
    CHECK(std::string(r.command({"GET", "t:account"})->str) == std::string(account_before->str));
    CHECK(std::string(r.command({"GET", "t:endpoint"})->str) == std::string(endpoint_before->str));

    // Each cell expires once its time is past: an idle budget leaves no key behind.
    auto ttl = r.command({"PTTL", "t:endpoint"});
    CHECK(ttl->integer > 0);
    CHECK(ttl->integer <= 1300);
}

TEST_CASE("shared budget script: a burst goes at once, then the rate holds") {
    test::redis_process server;
    redis_link r(server.port());
    r.command({"SCRIPT", "LOAD", std::string(shared_budget_script)});
    int at_once = 0;
    for (int i = 0; i < 10; ++i) at_once += reserve(r, 1000, 1, 60'000'000, 3).wait_us == 0;
    CHECK(at_once == 3); // burst 3 at 1/s: three now, the rest a second apart
    auto next = reserve(r, 1000, 1, 60'000'000, 3);
    CHECK(next.wait_us > 7'000'000); // seven queued ahead of it, a second each
}

} // TEST_SUITE("integration")
