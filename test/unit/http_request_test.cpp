// make_fixed_headers and make_request: the exact bytes put on the wire.
#include <doctest/doctest.h>

#include <stripe_asio/detail/http_request.hpp>
#include <stripe_asio/version.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

using stripe_asio::detail::make_fixed_headers;
using stripe_asio::detail::make_request;
using stripe_asio::detail::request_parts;

namespace {

// Fixed headers stand-in: make_request copies them verbatim, so a short marker is enough.
constexpr std::string_view fixed = "Host: h\r\nX-Fixed: 1\r\n";

std::string header_value(std::string_view headers, std::string_view name) {
    std::string needle = std::string(name) + ": ";
    auto pos = headers.find(needle);
    if (pos == std::string_view::npos) return "<absent>";
    if (pos != 0 && headers[pos - 1] != '\n') return "<not at line start>";
    pos += needle.size();
    auto end = headers.find("\r\n", pos);
    return std::string(headers.substr(pos, end - pos));
}

std::string json_string(const boost::json::value& v) {
    return v.is_string() ? std::string(v.get_string()) : "<not a string: " + boost::json::serialize(v) + ">";
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("fixed headers: exact lines, each ending in CRLF") {
    std::string h = make_fixed_headers("api.stripe.com", "sk_test_abc", "2026-10-28.endive", "1.2.3");
    const std::string expected_ua = "{\"bindings_version\":\"1.2.3\",\"lang\":\"cpp\",\"lang_version\":\"" +
                                    std::to_string(__cplusplus) +
                                    "\",\"publisher\":\"stripe-asio\",\"httplib\":\"boost.beast\"}";
    CHECK(h == "Host: api.stripe.com\r\n"
               "Authorization: Bearer sk_test_abc\r\n"
               "Stripe-Version: 2026-10-28.endive\r\n"
               "User-Agent: Stripe/v1 CppAsioBindings/1.2.3\r\n"
               "X-Stripe-Client-User-Agent: " +
                   expected_ua +
                   "\r\n"
                   "Accept: application/json\r\n");
}

TEST_CASE("fixed headers: Authorization, User-Agent and Stripe-Version with the library version") {
    std::string h = make_fixed_headers("127.0.0.1:8443", "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                                       stripe_asio::default_stripe_version, stripe_asio::version);
    CHECK(header_value(h, "Host") == "127.0.0.1:8443");
    CHECK(header_value(h, "Authorization") == "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc");
    CHECK(header_value(h, "User-Agent") == std::string("Stripe/v1 CppAsioBindings/" STRIPE_ASIO_VERSION_STRING));
    CHECK(header_value(h, "Stripe-Version") == stripe_asio::default_stripe_version);
    CHECK(header_value(h, "Accept") == "application/json");
    CHECK(h.size() >= 2);
    CHECK(h.substr(h.size() - 2) == "\r\n");
    CHECK(h.find("\r\n\r\n") == std::string::npos); // the blank line is make_request's job
}

TEST_CASE("fixed headers: X-Stripe-Client-User-Agent is a JSON object with the SDK fields") {
    std::string h = make_fixed_headers("api.stripe.com", "sk_test_abc", "2026-10-28.endive", stripe_asio::version);
    std::string ua = header_value(h, "X-Stripe-Client-User-Agent");
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(ua, ec);
    INFO("X-Stripe-Client-User-Agent: ", ua);
    REQUIRE_FALSE(ec);
    REQUIRE(v.is_object());
    const auto& o = v.get_object();
    REQUIRE(o.contains("bindings_version"));
    REQUIRE(o.contains("lang"));
    REQUIRE(o.contains("publisher"));
    REQUIRE(o.contains("lang_version"));
    CHECK(json_string(o.at("bindings_version")) == STRIPE_ASIO_VERSION_STRING);
    CHECK(json_string(o.at("lang")) == "cpp");
    CHECK(json_string(o.at("publisher")) == "stripe-asio");
    CHECK(json_string(o.at("lang_version")) == std::to_string(__cplusplus));
}

TEST_CASE("make_request: POST with an empty body still sends Content-Type and Content-Length: 0") {
    request_parts p;
    p.method = "POST";
    p.target = "/v1/accounts/acct_123/login_links";
    p.idempotency_key = "4a7c1c1e-0a4b-4f6e-9c3d-2b1f0e9d8c7b";
    CHECK(make_request(fixed, p) == "POST /v1/accounts/acct_123/login_links HTTP/1.1\r\n"
                                    "Host: h\r\nX-Fixed: 1\r\n"
                                    "Content-Type: application/x-www-form-urlencoded\r\n"
                                    "Content-Length: 0\r\n"
                                    "Idempotency-Key: 4a7c1c1e-0a4b-4f6e-9c3d-2b1f0e9d8c7b\r\n"
                                    "\r\n");
}

TEST_CASE("make_request: POST with a body puts its byte length in Content-Length and the body last") {
    request_parts p;
    p.method = "POST";
    p.target = "/v1/accounts/acct_123/login_links";
    p.body = "expand[0]=a&expand[1]=b.c";
    p.idempotency_key = "key-1";
    CHECK(make_request(fixed, p) == "POST /v1/accounts/acct_123/login_links HTTP/1.1\r\n"
                                    "Host: h\r\nX-Fixed: 1\r\n"
                                    "Content-Type: application/x-www-form-urlencoded\r\n"
                                    "Content-Length: 25\r\n"
                                    "Idempotency-Key: key-1\r\n"
                                    "\r\n"
                                    "expand[0]=a&expand[1]=b.c");
}

TEST_CASE("make_request: Stripe-Account comes after Idempotency-Key") {
    request_parts p;
    p.method = "POST";
    p.target = "/v1/accounts/acct_1/login_links";
    p.body = "a=%C3%A9";
    p.idempotency_key = "k";
    p.stripe_account = "acct_1032D82eZvKYlo2C";
    CHECK(make_request(fixed, p) == "POST /v1/accounts/acct_1/login_links HTTP/1.1\r\n"
                                    "Host: h\r\nX-Fixed: 1\r\n"
                                    "Content-Type: application/x-www-form-urlencoded\r\n"
                                    "Content-Length: 8\r\n"
                                    "Idempotency-Key: k\r\n"
                                    "Stripe-Account: acct_1032D82eZvKYlo2C\r\n"
                                    "\r\n"
                                    "a=%C3%A9");
}

TEST_CASE("make_request: Stripe-Account without an idempotency key") {
    request_parts p;
    p.method = "POST";
    p.target = "/v1/x";
    p.stripe_account = "acct_9";
    CHECK(make_request(fixed, p) == "POST /v1/x HTTP/1.1\r\n"
                                    "Host: h\r\nX-Fixed: 1\r\n"
                                    "Content-Type: application/x-www-form-urlencoded\r\n"
                                    "Content-Length: 0\r\n"
                                    "Stripe-Account: acct_9\r\n"
                                    "\r\n");
}

TEST_CASE("make_request: GET without a body has neither Content-Type nor Content-Length") {
    request_parts p;
    p.method = "GET";
    p.target = "/v1/accounts/acct_1?expand[0]=x";
    p.has_body = false;
    std::string r = make_request(fixed, p);
    CHECK(r == "GET /v1/accounts/acct_1?expand[0]=x HTTP/1.1\r\n"
               "Host: h\r\nX-Fixed: 1\r\n"
               "\r\n");
    CHECK(r.find("Content-Type") == std::string::npos);
    CHECK(r.find("Content-Length") == std::string::npos);
}

TEST_CASE("make_request: the full request with real fixed headers") {
    std::string h = make_fixed_headers("api.stripe.com", "sk_test_abc", "2026-10-28.endive", "0.1.0");
    request_parts p;
    p.method = "POST";
    p.target = "/v1/accounts/acct_1/login_links";
    p.idempotency_key = "k";
    std::string r = make_request(h, p);
    CHECK(r == "POST /v1/accounts/acct_1/login_links HTTP/1.1\r\n" + h +
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: 0\r\n"
                   "Idempotency-Key: k\r\n"
                   "\r\n");
    // Exactly one blank line, at the end of the header block.
    CHECK(r.find("\r\n\r\n") == r.size() - 4);
}

} // TEST_SUITE("unit")
