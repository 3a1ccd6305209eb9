// Input checks done before anything is sent: account ids, idempotency keys, API keys, header values;
// and a configuration field's range.
#include <doctest/doctest.h>

#include <stripe_asio/detail/validation.hpp>
#include <stripe_asio/stripe_asio.hpp>

#include <limits>
#include <string>
#include <string_view>

using namespace std::string_view_literals;
using stripe_asio::detail::is_safe_header_value;
using stripe_asio::detail::is_valid_account_id;
using stripe_asio::detail::is_valid_api_key_format;
using stripe_asio::detail::is_valid_idempotency_key;

// The checks are constexpr, so they can run on literals at compile time.
static_assert(is_valid_account_id("acct_1032D82eZvKYlo2C"));
static_assert(!is_valid_account_id("acct_"));
static_assert(!is_safe_header_value("a\nb"));

TEST_SUITE("unit") {

TEST_CASE("account id: acct_ followed by letters and digits is valid") {
    CHECK(is_valid_account_id("acct_1032D82eZvKYlo2C"));
    CHECK(is_valid_account_id("acct_1"));
    CHECK(is_valid_account_id("acct_Z"));
}

TEST_CASE("account id: malformed ids are rejected") {
    CHECK_FALSE(is_valid_account_id(""));
    CHECK_FALSE(is_valid_account_id("acct_"));
    CHECK_FALSE(is_valid_account_id("acct"));
    CHECK_FALSE(is_valid_account_id("acct-123"));
    CHECK_FALSE(is_valid_account_id("ACCT_1"));
    CHECK_FALSE(is_valid_account_id("acct_12 34"));
    CHECK_FALSE(is_valid_account_id(" acct_1234"));
    CHECK_FALSE(is_valid_account_id("acct_1234 "));
    CHECK_FALSE(is_valid_account_id("acct_12/.."));
    CHECK_FALSE(is_valid_account_id("acct_12%2F"));
    CHECK_FALSE(is_valid_account_id("acct_12_34"));
    CHECK_FALSE(is_valid_account_id("acct_caf\xC3\xA9")); // UTF-8 e-acute
    CHECK_FALSE(is_valid_account_id("acct_\xE2\x80\x8B"
                                    "1")); // zero-width space
    CHECK_FALSE(is_valid_account_id("cus_1032D82eZvKYlo2C"));
}

TEST_CASE("account id: a NUL byte inside is rejected") {
    CHECK_FALSE(is_valid_account_id("acct_12\0"
                                    "34"sv));
    CHECK_FALSE(is_valid_account_id("acct_1234\0"sv));
}

TEST_CASE("account id: 255 characters is the longest valid id") {
    std::string id = "acct_" + std::string(250, 'a');
    REQUIRE(id.size() == 255);
    CHECK(is_valid_account_id(id));
    id += 'a';
    REQUIRE(id.size() == 256);
    CHECK_FALSE(is_valid_account_id(id));
}

TEST_CASE("idempotency key: 1 to 255 visible ASCII characters") {
    CHECK(is_valid_idempotency_key("a"));
    CHECK(is_valid_idempotency_key("stripe-node-retry-5b5e2a3c-3f1e-4e0b-9a53-0c6a7e4f1d2b"));
    CHECK(is_valid_idempotency_key("!~{}\"'<>"));
    CHECK(is_valid_idempotency_key(std::string(255, 'k')));
    CHECK_FALSE(is_valid_idempotency_key(std::string(256, 'k')));
    CHECK_FALSE(is_valid_idempotency_key(""));
}

TEST_CASE("idempotency key: spaces, control characters and non-ASCII are rejected") {
    CHECK_FALSE(is_valid_idempotency_key("key with space"));
    CHECK_FALSE(is_valid_idempotency_key(" key"));
    CHECK_FALSE(is_valid_idempotency_key("key\r\nX-Injected: 1"));
    CHECK_FALSE(is_valid_idempotency_key("key\n"));
    CHECK_FALSE(is_valid_idempotency_key("key\t1"));
    CHECK_FALSE(is_valid_idempotency_key("key\x7f"));
    CHECK_FALSE(is_valid_idempotency_key("key\0x"sv));
    CHECK_FALSE(is_valid_idempotency_key("cl\xC3\xA9"));
}

TEST_CASE("API key format: a single visible-ASCII token") {
    CHECK(is_valid_api_key_format("sk_test_4eC39HqLyjWDarjtT1zdp7dc"));
    CHECK(is_valid_api_key_format("rk_live_abc123"));
    CHECK_FALSE(is_valid_api_key_format("sk_test_abc\t"));
    CHECK_FALSE(is_valid_api_key_format("sk_test_abc\n"));
    CHECK_FALSE(is_valid_api_key_format("sk_test_abc\r\nX-Evil: 1"));
    CHECK_FALSE(is_valid_api_key_format("sk_test abc"));
    CHECK_FALSE(is_valid_api_key_format(" sk_test_abc"));
    CHECK_FALSE(is_valid_api_key_format("sk_test_\xC3\xA9"));
    CHECK_FALSE(is_valid_api_key_format("sk_test_\0abc"sv));
    CHECK_FALSE(is_valid_api_key_format("sk_test_\x7f"));
}

TEST_CASE("header value: printable ASCII and spaces only") {
    CHECK(is_safe_header_value("2026-10-28.endive"));
    CHECK(is_safe_header_value("a value with spaces"));
    CHECK(is_safe_header_value(""));
    CHECK(is_safe_header_value("~!@#$%^&*()"));
    CHECK_FALSE(is_safe_header_value("2026\r\nX-Injected: yes"));
    CHECK_FALSE(is_safe_header_value("line\n"));
    CHECK_FALSE(is_safe_header_value("tab\there"));
    CHECK_FALSE(is_safe_header_value("nul\0here"sv));
    CHECK_FALSE(is_safe_header_value("del\x7f"));
    CHECK_FALSE(is_safe_header_value("caf\xC3\xA9"));
}

TEST_CASE("config: rate_budget.headroom is a share in (0, 1]") {
    stripe_asio::config cfg;
    cfg.api_key = "sk_test_123";
    CHECK(cfg.rate_budget.headroom == 0.9);
    CHECK_NOTHROW(cfg.validate());
    for (double h : {0.0, -0.5, 1.01, std::numeric_limits<double>::quiet_NaN()}) {
        cfg.rate_budget.headroom = h;
        CHECK_THROWS_AS(cfg.validate(), stripe_asio::error_with_diagnostics);
    }
    cfg.rate_budget.headroom = 1;
    CHECK_NOTHROW(cfg.validate());
}

} // TEST_SUITE("unit")
