// RESP without sockets: commands as Redis reads them, replies through hiredis's reader in any
// split, and bad or oversized input as a typed refusal with bounded memory.
#include <doctest/doctest.h>

#include <stripe_asio/detail/resp.hpp>

#include <string>

using stripe_asio::detail::append_command;
using stripe_asio::detail::resp_reader;
using stripe_asio::detail::resp_value;

TEST_SUITE("unit") {

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
