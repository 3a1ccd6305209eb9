// RESP without sockets: commands as Redis reads them, replies through hiredis's reader in any
// split, and bad or oversized input as a typed refusal with bounded memory.
#include <doctest/doctest.h>

#include <stripe_asio/detail/redis_reply_handler.hpp>
#include <stripe_asio/detail/resp.hpp>
#include <stripe_asio/detail/shared_budget_script.hpp>

#include <array>
#include <memory>
#include <string>

using stripe_asio::detail::append_command;
using stripe_asio::detail::resp_reader;
using stripe_asio::detail::resp_value;

TEST_SUITE("unit") {

namespace {
resp_value parsed(const std::string& wire) {
    resp_reader r;
    REQUIRE(r.feed(wire.data(), wire.size()));
    auto v = r.next();
    REQUIRE(v);
    return *v;
}
} // namespace

TEST_CASE("shared budget: a reservation is EVALSHA over both keys, after SCRIPT LOAD when asked") {
    using stripe_asio::detail::append_reservation;
    std::string out;
    append_reservation(out, "abc", "p:{a}:account", "p:{a}:POST /x", {40000, 0}, {40000, 80000}, 1500000, false);
    CHECK(out == "*10\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$13\r\np:{a}:account\r\n$13\r\np:{a}:POST "
                 "/x\r\n$5\r\n40000\r\n$1\r\n0\r\n$5\r\n40000\r\n$5\r\n80000\r\n$7\r\n1500000\r\n");
    std::string loaded;
    append_reservation(loaded, "abc", "k1", "k2", {1, 0}, {1, 0}, 0, true);
    CHECK(loaded.starts_with("*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n"));
    CHECK(loaded.find("EVALSHA") != std::string::npos);
}

TEST_CASE("shared budget: the script's answer is read, and anything else is no answer") {
    using stripe_asio::detail::is_noscript;
    using stripe_asio::detail::read_reservation;
    auto granted = read_reservation(parsed("*2\r\n:1\r\n:40000\r\n"), 1000000);
    REQUIRE(granted);
    CHECK(granted->granted);
    CHECK(granted->wait == std::chrono::microseconds(40000));
    auto refused = read_reservation(parsed("*2\r\n:0\r\n:2500000\r\n"), 1000000);
    REQUIRE(refused);
    CHECK_FALSE(refused->granted);
    CHECK_FALSE(read_reservation(parsed("*2\r\n:1\r\n:-5\r\n"), 1000000)); // a negative wait
    CHECK_FALSE(read_reservation(parsed("*2\r\n:2\r\n:5\r\n"), 1000000)); // a flag that is neither
    CHECK_FALSE(read_reservation(parsed("*1\r\n:1\r\n"), 1000000)); // the wrong shape
    CHECK_FALSE(read_reservation(parsed("*2\r\n$1\r\n1\r\n:5\r\n"), 1000000)); // strings, not numbers
    CHECK_FALSE(read_reservation(parsed("-ERR something\r\n"), 1000000));
    CHECK_FALSE(read_reservation(parsed(":1\r\n"), 1000000));
    CHECK(is_noscript(parsed("-NOSCRIPT No matching script. Please use EVAL.\r\n")));
    CHECK_FALSE(is_noscript(parsed("-ERR unknown\r\n")));
    CHECK_FALSE(is_noscript(parsed("+NOSCRIPT\r\n"))); // a status, not an error
}

TEST_CASE("shared budget: an answer is checked against its question: a grant past its longest wait is no answer") {
    using stripe_asio::detail::longest_wait_us;
    using stripe_asio::detail::read_reservation;
    const std::int64_t max_wait = 1'000'000; // the question allowed 1 s
    auto at_limit = read_reservation(parsed("*2\r\n:1\r\n:1000000\r\n"), max_wait);
    REQUIRE(at_limit);
    CHECK(at_limit->granted);
    CHECK_FALSE(read_reservation(parsed("*2\r\n:1\r\n:1000001\r\n"), max_wait)); // one microsecond past
    CHECK_FALSE(read_reservation(parsed("*2\r\n:1\r\n:30000000\r\n"), max_wait));
    // A refusal says there was no room within the longest wait: one within it is nonsense.
    CHECK_FALSE(read_reservation(parsed("*2\r\n:0\r\n:1000000\r\n"), max_wait));
    auto refused = read_reservation(parsed("*2\r\n:0\r\n:1000001\r\n"), max_wait);
    REQUIRE(refused);
    CHECK_FALSE(refused->granted);
    // Waits past any clock: a grant is no answer, a refusal's wait is cut, and a clock duration
    // in nanoseconds holds what is left.
    CHECK_FALSE(read_reservation(parsed("*2\r\n:1\r\n:9223372036854775807\r\n"), longest_wait_us));
    CHECK_FALSE(read_reservation(parsed("*2\r\n:1\r\n:9223372036854776\r\n"), longest_wait_us)); // 2^63 ns
    auto far = read_reservation(parsed("*2\r\n:0\r\n:9223372036854775807\r\n"), max_wait);
    REQUIRE(far);
    CHECK(far->wait == std::chrono::microseconds(longest_wait_us));
    CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(far->wait).count() > 0);
    // A question's longest wait out of range is taken as its bounds.
    CHECK_FALSE(read_reservation(parsed("*2\r\n:1\r\n:1\r\n"), -5));
    CHECK(read_reservation(parsed("*2\r\n:1\r\n:0\r\n"), -5));
}

TEST_CASE("RESP: a command is an array of bulk strings") {
    std::string out;
    append_command(out, {"EVALSHA", "abc", "0"});
    append_command(out, {"SET", std::string_view("k\r\n", 3)});
    CHECK(out == "*3\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n0\r\n*2\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n");
}

TEST_CASE("RESP: replies of every kind, fed a byte at a time") {
    const std::string wire = "+OK\r\n-NOSCRIPT No matching script\r\n:42\r\n$5\r\nhello\r\n$-1\r\n"
                             "*2\r\n:1\r\n:250000\r\n*-1\r\n";
    resp_reader r;
    std::vector<resp_value> got;
    for (char c : wire) {
        REQUIRE(r.feed(&c, 1));
        while (auto v = r.next()) got.push_back(std::move(*v));
    }
    REQUIRE(got.size() == 7);
    CHECK(got[0].type == resp_value::kind::status);
    CHECK(got[0].text == "OK");
    CHECK(got[1].is_error());
    CHECK(got[1].text.rfind("NOSCRIPT", 0) == 0);
    CHECK(got[2].integer == 42);
    CHECK(got[3].text == "hello");
    CHECK(got[4].type == resp_value::kind::nil);
    REQUIRE(got[5].elements.size() == 2);
    CHECK(got[5].elements[1].integer == 250000);
    CHECK(got[6].type == resp_value::kind::nil);
    CHECK(r.buffered() == 0);
    CHECK(r.error().empty());
}

TEST_CASE("RESP: garbage is refused, and the reader stays spent") {
    resp_reader r;
    const std::string junk = "HTTP/1.1 200 OK\r\n";
    r.feed(junk.data(), junk.size());
    CHECK_FALSE(r.next());
    CHECK_FALSE(r.error().empty());
    const std::string ok = "+OK\r\n";
    CHECK_FALSE(r.feed(ok.data(), ok.size()));
    CHECK_FALSE(r.next());
}

TEST_CASE("RESP: a reply announcing more than the bound is refused before it is held") {
    resp_reader r(1024);
    const std::string head = "$100000000\r\n";
    REQUIRE(r.feed(head.data(), head.size()));
    CHECK_FALSE(r.next()); // waiting for the body
    std::string chunk(1024, 'x');
    CHECK_FALSE(r.feed(chunk.data(), chunk.size()));
    CHECK(r.error().find("larger than 1024 bytes") != std::string::npos);
}

TEST_CASE("RESP: an array announcing more elements than the reader holds is refused before any is made") {
    resp_reader r(64 * 1024, 100);
    const std::string huge = "*2147483647\r\n:1\r\n";
    r.feed(huge.data(), huge.size());
    CHECK_FALSE(r.next());
    CHECK(r.error().find("more than 100 values") != std::string::npos);

    resp_reader many(64 * 1024, 100); // many small arrays, each within the bound, in one reply
    std::string nested = "*50\r\n";
    for (int i = 0; i < 50; ++i) nested += "*3\r\n:1\r\n:2\r\n:3\r\n";
    many.feed(nested.data(), nested.size());
    CHECK_FALSE(many.next());
    CHECK_FALSE(many.error().empty());

    resp_reader fits(64 * 1024, 100);
    const std::string ok = "*2\r\n*1\r\n$1\r\na\r\n:7\r\n";
    fits.feed(ok.data(), ok.size());
    auto v = fits.next();
    REQUIRE(v);
    REQUIRE(v->elements.size() == 2);
    CHECK(v->elements[0].elements.at(0).text == "a");
    CHECK(v->elements[1].integer == 7);
}

} // TEST_SUITE("unit")

TEST_SUITE("unit") {

TEST_CASE("redis reply handler: small and large callables are called once, moved, and freed") {
    using stripe_asio::detail::redis_reply_handler;
    auto token = std::make_shared<int>(0);
    int called = 0;
    { // small: held inline
        redis_reply_handler h(
            [token, &called](boost::system::error_code, resp_value v) { called += static_cast<int>(v.integer); });
        CHECK(token.use_count() == 2);
        redis_reply_handler moved(std::move(h));
        CHECK_FALSE(h);
        resp_value v;
        v.integer = 3;
        moved({}, std::move(v));
        CHECK_FALSE(moved);
        CHECK(token.use_count() == 1); // destroyed as it was called
    }
    CHECK(called == 3);
    { // large: boxed on the heap, and freed without being called
        std::array<char, 100> big{};
        redis_reply_handler h(
            [token, big, &called](boost::system::error_code ec, resp_value) { called += big[0] + (ec ? 10 : 1); });
        redis_reply_handler other;
        other = std::move(h);
        CHECK(token.use_count() == 2);
    }
    CHECK(token.use_count() == 1);
    CHECK(called == 3);
}

} // TEST_SUITE("unit")
