// parse_base_url: https://host[:port][/prefix] into host, port, prefix and the Host header value.
#include <doctest/doctest.h>

#include <stripe_asio/detail/base_url.hpp>

#include <optional>
#include <string>
#include <string_view>

using stripe_asio::detail::base_url_parts;
using stripe_asio::detail::parse_base_url;

namespace {

base_url_parts parse_ok(std::string_view url) {
    std::string why;
    auto parts = parse_base_url(url, why);
    INFO("url: ", url, " why: ", why);
    REQUIRE(parts.has_value());
    CHECK(why.empty());
    return *parts;
}

// Returns the reason given for rejecting `url`.
std::string parse_fails(std::string_view url) {
    std::string why;
    auto parts = parse_base_url(url, why);
    INFO("url: ", url);
    CHECK_FALSE(parts.has_value());
    CHECK_FALSE(why.empty());
    return why;
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("base_url: the default Stripe URL") {
    auto p = parse_ok("https://api.stripe.com");
    CHECK(p.host == "api.stripe.com");
    CHECK(p.port == "443");
    CHECK(p.prefix == "");
    CHECK(p.host_header == "api.stripe.com");
}

TEST_CASE("base_url: an explicit port 443 is not repeated in the Host header") {
    auto p = parse_ok("https://api.stripe.com:443");
    CHECK(p.port == "443");
    CHECK(p.host_header == "api.stripe.com");
}

TEST_CASE("base_url: IPv4 address with a port") {
    auto p = parse_ok("https://127.0.0.1:8443");
    CHECK(p.host == "127.0.0.1");
    CHECK(p.port == "8443");
    CHECK(p.prefix == "");
    CHECK(p.host_header == "127.0.0.1:8443");
}

TEST_CASE("base_url: bracketed IPv6 address with port and prefix") {
    auto p = parse_ok("https://[::1]:9000/prefix/");
    CHECK(p.host == "::1");
    CHECK(p.port == "9000");
    CHECK(p.prefix == "/prefix");
    CHECK(p.host_header == "[::1]:9000");
}

TEST_CASE("base_url: bracketed IPv6 address on the default port keeps its brackets in Host") {
    auto p = parse_ok("https://[2001:db8::5]");
    CHECK(p.host == "2001:db8::5");
    CHECK(p.port == "443");
    CHECK(p.host_header == "[2001:db8::5]");
}

TEST_CASE("base_url: trailing slashes are dropped from the prefix") {
    CHECK(parse_ok("https://api.stripe.com/").prefix == "");
    CHECK(parse_ok("https://api.stripe.com//").prefix == "");
    CHECK(parse_ok("https://localhost:12111/stripe/v1/").prefix == "/stripe/v1");
    CHECK(parse_ok("https://localhost/a-b_c.d~e").prefix == "/a-b_c.d~e");
}

TEST_CASE("base_url: the scheme is case-insensitive") {
    auto p = parse_ok("HTTPS://api.stripe.com");
    CHECK(p.host == "api.stripe.com");
    CHECK(p.port == "443");
    CHECK(parse_ok("HttpS://localhost:1").host_header == "localhost:1");
}

TEST_CASE("base_url: port bounds are 1 and 65535") {
    CHECK(parse_ok("https://localhost:1").port == "1");
    CHECK(parse_ok("https://localhost:65535").port == "65535");
    CHECK(parse_ok("https://localhost:08443").port == "8443");
    parse_fails("https://localhost:0");
    parse_fails("https://localhost:65536");
    parse_fails("https://localhost:99999");
    parse_fails("https://localhost:123456");
    parse_fails("https://[::1]:0");
}

TEST_CASE("base_url: non-numeric ports are rejected") {
    parse_fails("https://localhost:abc");
    parse_fails("https://localhost:-1");
    parse_fails("https://localhost:80a");
    parse_fails("https://localhost: 80");
    parse_fails("https://localhost:80:90");
}

TEST_CASE("base_url: only https is accepted") {
    CHECK(parse_fails("http://api.stripe.com") == "base_url must start with https://");
    parse_fails("ftp://api.stripe.com");
    parse_fails("api.stripe.com");
    parse_fails("https:/api.stripe.com");
    parse_fails("");
    parse_fails("https://");
}

TEST_CASE("base_url: user information is rejected") {
    CHECK(parse_fails("https://user@api.stripe.com") == "base_url must not hold user information");
    parse_fails("https://user:sk_test_x@api.stripe.com");
}

TEST_CASE("base_url: an empty host is rejected") {
    CHECK(parse_fails("https://:443") == "base_url has no host");
    parse_fails("https:///prefix");
    parse_fails("https://[]:443");
}

TEST_CASE("base_url: malformed IPv6 brackets are rejected") {
    parse_fails("https://[::1");
    parse_fails("https://[::1]9000");
    parse_fails("https://::1");
}

TEST_CASE("base_url: query strings, fragments and odd characters are rejected") {
    parse_fails("https://api.stripe.com/?x=1");
    parse_fails("https://api.stripe.com?x=1");
    parse_fails("https://api.stripe.com/v1#frag");
    parse_fails("https://api.stripe.com/a%20b");
    parse_fails("https://api.stripe.com/a b");
    parse_fails("https://api stripe.com");
    parse_fails("https://api.stripe.com\r\nX-Injected: 1");
    parse_fails("https://api.stripe.com/\r\n");
}

} // TEST_SUITE("unit")
