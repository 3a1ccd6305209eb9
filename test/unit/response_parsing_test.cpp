// From a response's status and body to a result or an error: login links, Stripe error objects,
// the status mapping, generic JSON objects and redaction of the API key.
#include <doctest/doctest.h>

#include <stripe_asio/detail/response_parsing.hpp>
#include <stripe_asio/detail/server_text.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

using stripe_asio::diagnostics;
using stripe_asio::errc;
using stripe_asio::error_code;
using stripe_asio::json_response;
using stripe_asio::login_link;
using stripe_asio::detail::errc_from_status;
using stripe_asio::detail::parse_json_object;
using stripe_asio::detail::parse_login_link;
using stripe_asio::detail::parse_stripe_error;
using stripe_asio::detail::redact_key;

namespace {

// A body parse_login_link must reject: malformed_response, a reason, and `out` left alone.
void check_login_link_rejected(std::string_view body) {
    login_link out;
    out.object = "untouched";
    out.created = 7;
    out.url = "untouched";
    std::string why;
    error_code ec = parse_login_link(body, out, why);
    INFO("body: ", body);
    CHECK(ec == errc::malformed_response);
    CHECK_FALSE(why.empty());
    CHECK(out.object == "untouched");
    CHECK(out.created == 7);
    CHECK(out.url == "untouched");
}

std::string redacted(std::string text, std::string_view secret) {
    redact_key(text, secret);
    return text;
}

} // namespace

TEST_SUITE("unit") {

// ---- parse_login_link ----

TEST_CASE("parse_login_link: a valid body fills every field") {
    login_link out;
    std::string why;
    error_code ec = parse_login_link(
        R"({"object":"login_link","created":1495580507,"url":"https://connect.stripe.com/express/abc"})", out, why);
    CHECK_FALSE(ec);
    CHECK(why.empty());
    CHECK(out.object == "login_link");
    CHECK(out.created == 1495580507);
    CHECK(out.url == "https://connect.stripe.com/express/abc");
}

TEST_CASE("parse_login_link: field order, whitespace and unknown fields do not matter") {
    login_link out;
    std::string why;
    error_code ec = parse_login_link(" {\n \"url\" : \"https://x/y?z=1\", \"livemode\": false,\n"
                                     " \"created\": 1, \"object\": \"login_link\", \"extra\": {\"a\": [1,2]} }\n",
                                     out, why);
    CHECK_FALSE(ec);
    CHECK(out.created == 1);
    CHECK(out.url == "https://x/y?z=1");
}

TEST_CASE("parse_login_link: created accepts the whole int64 range, negative included") {
    login_link out;
    std::string why;
    CHECK_FALSE(parse_login_link(R"({"object":"login_link","created":-5,"url":"https://u.example/x"})", out, why));
    CHECK(out.created == -5);
    CHECK_FALSE(parse_login_link(R"({"object":"login_link","created":0,"url":"https://u.example/x"})", out, why));
    CHECK(out.created == 0);
    CHECK_FALSE(parse_login_link(R"({"object":"login_link","created":9223372036854775807,"url":"https://u.example/x"})",
                                 out, why));
    CHECK(out.created == INT64_MAX);
}

TEST_CASE("parse_login_link: a long url (5000 characters, past the parser's stack buffer)") {
    std::string url = "https://connect.stripe.com/express/" + std::string(5000 - 35, 'a');
    REQUIRE(url.size() == 5000);
    login_link out;
    std::string why;
    CHECK_FALSE(parse_login_link(R"({"object":"login_link","created":1,"url":")" + url + "\"}", out, why));
    CHECK(out.url == url);
}

TEST_CASE("parse_login_link: escapes in the url are decoded") {
    login_link out;
    std::string why;
    CHECK_FALSE(parse_login_link(R"({"object":"login_link","created":1,"url":"https:\/\/a\/b\u0041"})", out, why));
    CHECK(out.url == "https://a/bA");
}

TEST_CASE("parse_login_link: bodies that are not a JSON object") {
    check_login_link_rejected("");
    check_login_link_rejected("not json");
    check_login_link_rejected("<html>502 Bad Gateway</html>");
    check_login_link_rejected(R"({"object":"login_link","created":1,"url":"https://u.example/x")"); // truncated
    check_login_link_rejected(R"({"object":"login_link","created":1,"url":"https://u.example/x"} trailing)");
    check_login_link_rejected(R"([{"object":"login_link","created":1,"url":"https://u.example/x"}])");
    check_login_link_rejected("null");
    check_login_link_rejected("\"login_link\"");
}

TEST_CASE("parse_login_link: object must be the string login_link") {
    check_login_link_rejected(R"({"created":1,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"account","created":1,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"Login_Link","created":1,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":null,"created":1,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":["login_link"],"created":1,"url":"https://u.example/x"})");
}

TEST_CASE("parse_login_link: url must be a non-empty string") {
    check_login_link_rejected(R"({"object":"login_link","created":1})");
    check_login_link_rejected(R"({"object":"login_link","created":1,"url":""})");
    check_login_link_rejected(R"({"object":"login_link","created":1,"url":null})");
    check_login_link_rejected(R"({"object":"login_link","created":1,"url":42})");
    check_login_link_rejected(R"({"object":"login_link","created":1,"url":{"href":"u"}})");
}

TEST_CASE("parse_login_link: created must be an integer") {
    check_login_link_rejected(R"({"object":"login_link","url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"login_link","created":"1495580507","url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"login_link","created":1.5,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"login_link","created":null,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"login_link","created":true,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"login_link","created":9223372036854775808,"url":"https://u.example/x"})");
    check_login_link_rejected(R"({"object":"login_link","created":18446744073709551615,"url":"https://u.example/x"})");
}

TEST_CASE("parse_login_link: only an absolute https url with a host may become a redirect") {
    // Each of these, answered as a 302 Location, would send the user elsewhere or split headers.
    for (std::string_view bad : {"http://connect.stripe.com/express/x",
                                 "javascript:alert(1)",
                                 "//evil.example/x",
                                 "/express/x",
                                 "https://",
                                 "https:///path",
                                 "https://:443/x",
                                 "https://@evil.example/",
                                 "https://connect.stripe.com@evil.example/",
                                 "https://a.example/x\\r\\nSet-Cookie: a=b",
                                 "https://a.example/x y",
                                 "https://a.example/\\tx",
                                 "https://a.example/\\u001b[31m",
                                 "https://a.example\\\\@evil.example/",
                                 "https://a.example:x/",
                                 "https://a.example:/",
                                 "https://a.example:123456/",
                                 "https://a.example:0/",
                                 "https://a.example:65536/",
                                 "https://[::1/x",
                                 "https://-a.example/",
                                 "ftp://a.example/",
                                 "https://caf\\u00e9.example/",
                                 "HTTPS://connect.stripe.com",
                                 "https://a.example/\\u007f"}) {
        login_link out;
        std::string why;
        std::string body = R"({"object":"login_link","created":1,"url":")" + std::string(bad) + "\"}";
        INFO("url: ", bad);
        CHECK(parse_login_link(body, out, why) == errc::malformed_response);
        CHECK(out.url.empty());
    }
    for (std::string_view good :
         {"https://connect.stripe.com/express/acct_1/AbC", "https://127.0.0.1:4443/express/acct_1/x?y=1#z",
          "https://[::1]:8443/e", "https://connect.stripe.com?x"}) {
        INFO("url: ", good);
        CHECK(stripe_asio::detail::is_acceptable_login_url(good));
    }
    CHECK_FALSE(stripe_asio::detail::is_acceptable_login_url("https://a.example/" + std::string(5000, 'x')));
}

TEST_CASE("parse_login_link: the reason names what is wrong") {
    login_link out;
    std::string why;
    parse_login_link("nope", out, why);
    CHECK(why == "response body is not JSON");
    parse_login_link("[]", out, why);
    CHECK(why == "response body is not a JSON object");
    parse_login_link(R"({"object":"login_link","created":1})", out, why);
    CHECK(why == "login_link has no url");
    parse_login_link(R"({"object":"login_link","url":"https://u.example/x"})", out, why);
    CHECK(why == "login_link has no created time");
}

// ---- parse_stripe_error ----

TEST_CASE("parse_stripe_error: fills every field of the error object") {
    diagnostics d;
    bool ok = parse_stripe_error(R"({"error":{"type":"card_error","code":"card_declined",
        "decline_code":"insufficient_funds","message":"Your card has insufficient funds.",
        "param":"amount","doc_url":"https://stripe.com/docs/error-codes/card-declined",
        "request_log_url":"https://dashboard.stripe.com/logs/req_1"}})",
                                 d);
    CHECK(ok);
    CHECK(d.type == "card_error");
    CHECK(d.code == "card_declined");
    CHECK(d.decline_code == "insufficient_funds");
    CHECK(d.message == "Your card has insufficient funds.");
    CHECK(d.param == "amount");
    CHECK(d.doc_url == "https://stripe.com/docs/error-codes/card-declined");
    CHECK(d.http_status == 0); // not its job
    CHECK(d.request_id.empty());
}

TEST_CASE("parse_stripe_error: missing or non-string fields stay empty") {
    diagnostics d;
    CHECK(parse_stripe_error(R"({"error":{"type":"invalid_request_error","code":123,"param":null}})", d));
    CHECK(d.type == "invalid_request_error");
    CHECK(d.code.empty());
    CHECK(d.param.empty());
    CHECK(d.message.empty());
    CHECK(d.decline_code.empty());
    CHECK(d.doc_url.empty());
}

TEST_CASE("parse_stripe_error: a large error body is parsed in full") {
    std::string message(10000, 'm');
    diagnostics d;
    CHECK(parse_stripe_error(R"({"error":{"type":"api_error","message":")" + message + "\"}}", d));
    CHECK(d.message == message);
    CHECK(d.type == "api_error");
}

TEST_CASE("parse_stripe_error: false for bodies that are not an error object") {
    for (std::string_view body :
         {"", "not json", "[]", "null", R"({"object":"login_link"})", R"({"error":"boom"})", R"({"error":null})",
          R"({"error":[{"type":"api_error"}]})", R"({"error":{"type":"api_error"})"}) {
        diagnostics d;
        INFO("body: ", body);
        CHECK_FALSE(parse_stripe_error(body, d));
        CHECK(d.type.empty());
        CHECK(d.code.empty());
        CHECK(d.message.empty());
    }
}

// ---- errc_from_status ----

TEST_CASE("errc_from_status: the SDKs' status table") {
    CHECK(errc_from_status(400, "invalid_request_error") == errc::invalid_request);
    CHECK(errc_from_status(400, "") == errc::invalid_request);
    CHECK(errc_from_status(401, "") == errc::authentication);
    CHECK(errc_from_status(402, "card_error") == errc::card_error);
    CHECK(errc_from_status(403, "") == errc::permission);
    CHECK(errc_from_status(404, "invalid_request_error") == errc::invalid_request);
    CHECK(errc_from_status(409, "") == errc::conflict);
    CHECK(errc_from_status(429, "") == errc::rate_limit);
    CHECK(errc_from_status(429, "invalid_request_error") == errc::rate_limit);
    CHECK(errc_from_status(500, "api_error") == errc::api_error);
    CHECK(errc_from_status(503, "") == errc::api_error);
    CHECK(errc_from_status(418, "") == errc::api_error);
}

TEST_CASE("errc_from_status: idempotency_error type on a 400 or 404") {
    CHECK(errc_from_status(400, "idempotency_error") == errc::idempotency_error);
    CHECK(errc_from_status(404, "idempotency_error") == errc::idempotency_error);
}

TEST_CASE("errc_from_status: idempotency_error type on other statuses keeps the status mapping") {
    // SDK rule: only 400/404 with idempotency_error mean "key reused with other parameters";
    // a 409 is errc::conflict (idempotency_key_in_use), a 429 a rate limit, a 5xx an API error.
    CHECK(errc_from_status(409, "idempotency_error") == errc::conflict);
    CHECK(errc_from_status(429, "idempotency_error") == errc::rate_limit);
    CHECK(errc_from_status(500, "idempotency_error") == errc::api_error);
}

// ---- parse_json_object ----

TEST_CASE("parse_json_object: an object becomes the body") {
    json_response out;
    std::string why;
    error_code ec = parse_json_object(R"({"id":"acct_1","charges_enabled":true,"n":3})", out, why);
    CHECK_FALSE(ec);
    CHECK(why.empty());
    REQUIRE(out.body.is_object());
    const auto& o = out.body.get_object();
    CHECK(o.size() == 3);
    REQUIRE(o.contains("id"));
    CHECK(o.at("id").is_string());
    CHECK(std::string_view(o.at("id").get_string()) == "acct_1");
    CHECK(o.at("charges_enabled") == boost::json::value(true));
    CHECK(o.at("n") == boost::json::value(3));
}

TEST_CASE("parse_json_object: anything but an object is malformed_response") {
    for (std::string_view body : {"", "nope", "[]", "[{}]", "null", "1", "\"s\"", "{", "{} {}"}) {
        json_response out;
        std::string why;
        INFO("body: ", body);
        CHECK(parse_json_object(body, out, why) == errc::malformed_response);
        CHECK_FALSE(why.empty());
        CHECK(out.body.is_null());
    }
}

// ---- redact ----

TEST_CASE("redact: replaces every occurrence of the secret") {
    CHECK(redacted("Invalid API Key provided: sk_test_SECRET", "sk_test_SECRET") ==
          "Invalid API Key provided: [redacted]");
    CHECK(redacted("sk_test_SECRET and sk_test_SECRET", "sk_test_SECRET") == "[redacted] and [redacted]");
    CHECK(redacted("sk_test_SECRETsk_test_SECRET", "sk_test_SECRET") == "[redacted][redacted]");
    CHECK(redacted("sk_test_SECRET", "sk_test_SECRET") == "[redacted]");
}

TEST_CASE("redact: text without the secret is unchanged") {
    CHECK(redacted("no key here", "sk_test_SECRET") == "no key here");
    CHECK(redacted("sk_test_SECRE", "sk_test_SECRET") == "sk_test_SECRE");
    CHECK(redacted("", "sk_test_SECRET") == "");
}

TEST_CASE("redact: an empty secret is a no-op") {
    CHECK(redacted("anything at all", "") == "anything at all");
    CHECK(redacted("", "") == "");
}

// The search resumes after the "[redacted]" it just wrote, so a secret that occurs inside the
// replacement text cannot make it loop.
TEST_CASE("redact: terminates when the secret occurs inside the replacement text") {
    CHECK(redacted("token=e", "e") == "tok[redacted]n=[redacted]");
    CHECK(redacted("[redacted]", "[redacted]") == "[redacted]");
    CHECK(redacted("xdx", "d") == "x[redacted]x");
    CHECK(redacted("acted", "act") == "[redacted]ed");
}

} // TEST_SUITE("unit")
