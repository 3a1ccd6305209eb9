// The input checks made before anything is sent, and config::validate over fuzzer-chosen key,
// version and base URL: each check agrees with its documented rule, and a rejected config
// names the problem without ever quoting the API key.
#ifndef STRIPE_ASIO_FUZZ_VALIDATION_HPP
#define STRIPE_ASIO_FUZZ_VALIDATION_HPP

#include "fuzz_support.hpp"

#include <stripe_asio/config.hpp>
#include <stripe_asio/detail/base_url.hpp>
#include <stripe_asio/detail/form_encoding.hpp>
#include <stripe_asio/detail/validation.hpp>
#include <stripe_asio/error_with_diagnostics.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::fuzz {

// The documented rules, written over unsigned bytes so a signed char can't hide a bad byte.
constexpr bool byte_in(char c, unsigned lo, unsigned hi) noexcept {
    auto b = static_cast<unsigned char>(c);
    return b >= lo && b <= hi;
}

constexpr bool all_bytes_in(std::string_view s, unsigned lo, unsigned hi) noexcept {
    for (char c : s)
        if (!byte_in(c, lo, hi)) return false;
    return true;
}

constexpr bool alnum_by_rule(char c) noexcept {
    return byte_in(c, '0', '9') || byte_in(c, 'A', 'Z') || byte_in(c, 'a', 'z');
}

inline void check_string_rules(std::string_view s) {
    STRIPE_ASIO_FUZZ_CHECK(detail::is_visible_ascii(s) == all_bytes_in(s, 0x21, 0x7e));
    STRIPE_ASIO_FUZZ_CHECK(detail::is_valid_api_key_format(s) == all_bytes_in(s, 0x21, 0x7e));
    STRIPE_ASIO_FUZZ_CHECK(detail::is_safe_header_value(s) == all_bytes_in(s, 0x20, 0x7e));
    STRIPE_ASIO_FUZZ_CHECK(detail::is_valid_idempotency_key(s) ==
                           (!s.empty() && s.size() <= 255 && all_bytes_in(s, 0x21, 0x7e)));
    bool account = s.size() > 5 && s.size() <= 255 && s.substr(0, 5) == "acct_";
    for (std::size_t i = 5; account && i < s.size(); ++i) account = alnum_by_rule(s[i]);
    STRIPE_ASIO_FUZZ_CHECK(detail::is_valid_account_id(s) == account);
    // Whatever is accepted as an id, key or header value can't split a header line.
    if (detail::is_safe_header_value(s)) STRIPE_ASIO_FUZZ_CHECK(s.find_first_of("\r\n") == std::string_view::npos);
}

/// The text validate() throws for `cfg`, or nullopt when it accepts it. Anything thrown other
/// than error_with_diagnostics breaks the property.
inline std::optional<std::string> validate_message(const config& cfg, error_code& ec, std::string& detail_text) {
    try {
        cfg.validate();
        return std::nullopt;
    } catch (const error_with_diagnostics& e) {
        ec = e.code();
        detail_text = e.get_diagnostics().detail;
        return std::string(e.what());
    } catch (...) {
        STRIPE_ASIO_FUZZ_CHECK(false);
        ec = errc::invalid_config;
        return std::string();
    }
}

inline int fuzz_validation(const std::uint8_t* data, std::size_t size) {
    input_reader in(data, size);
    const std::uint8_t fields = in.byte(); // which strings the input sets
    const std::uint8_t broken = in.byte(); // which other fields it makes invalid (each bit one)
    const std::uint8_t broken_more = in.byte() & 0x1f; // five more of them

    config cfg;
    cfg.api_key = std::string(in.short_string());
    if (fields & 1) cfg.base_url = std::string(in.short_string());
    if (fields & 2) cfg.stripe_version = std::string(in.short_string());
    if (fields & 4) cfg.api_key += in.rest(); // long keys too

    if (broken & 0x01) cfg.attempt_timeout = std::chrono::milliseconds(-std::int64_t(in.byte()));
    if (broken & 0x02) cfg.call_timeout = std::chrono::milliseconds(-1);
    if (broken & 0x04) cfg.max_connections = 0;
    if (broken & 0x08) cfg.idle_timeout = std::chrono::milliseconds(-1);
    if (broken & 0x10) cfg.min_idle = cfg.max_connections + 1;
    if (broken & 0x20) cfg.rate_budget.account_per_second = std::numeric_limits<double>::quiet_NaN();
    if (broken & 0x40) cfg.max_response_bytes = 0;
    if (broken & 0x80) cfg.retry.max_delay = std::chrono::milliseconds(-1);
    if (broken_more & 0x01) cfg.connect_timeout = std::chrono::milliseconds(0);
    if (broken_more & 0x02) cfg.retry.budget_max_tokens = std::numeric_limits<double>::quiet_NaN();
    if (broken_more & 0x04) cfg.retry.budget_token_ratio = -0.5;
    if (broken_more & 0x08) cfg.retry.budget_max_tokens = std::numeric_limits<double>::infinity();
    if (broken_more & 0x10) cfg.retry.initial_delay = std::chrono::milliseconds(-1);

    check_string_rules(cfg.api_key);
    check_string_rules(cfg.base_url);
    check_string_rules(cfg.stripe_version);
    for (char c : cfg.api_key) STRIPE_ASIO_FUZZ_CHECK(detail::is_ascii_alnum(c) == alnum_by_rule(c));

    error_code ec;
    std::string detail_text;
    const std::optional<std::string> message = validate_message(cfg, ec, detail_text);

    // The outcome the documented rules predict, in validate()'s order.
    std::string why;
    const bool other_fields_ok = detail::parse_base_url(cfg.base_url, why) && !cfg.stripe_version.empty() &&
                                 detail::is_safe_header_value(cfg.stripe_version) && broken == 0 && broken_more == 0;
    std::optional<errc> expected;
    if (cfg.api_key.empty()) expected = errc::missing_api_key;
    else if (!all_bytes_in(cfg.api_key, 0x21, 0x7e)) expected = errc::invalid_api_key_format;
    else if (!other_fields_ok) expected = errc::invalid_config;

    STRIPE_ASIO_FUZZ_CHECK(message.has_value() == expected.has_value());
    if (!message || !expected) return 0;
    STRIPE_ASIO_FUZZ_CHECK(ec == *expected);
    STRIPE_ASIO_FUZZ_CHECK(!detail_text.empty());

    if (cfg.api_key.size() >= 8 &&
        (message->find(cfg.api_key) != std::string::npos || detail_text.find(cfg.api_key) != std::string::npos)) {
        // Only a key that happens to be a piece of our own wording may show up: the same config
        // with a stand-in key of the same kind must say it too.
        config stand_in = cfg;
        stand_in.api_key.assign(cfg.api_key.size(), *expected == errc::invalid_api_key_format ? '\x01' : 'K');
        error_code stand_in_ec;
        std::string stand_in_detail;
        auto reference = validate_message(stand_in, stand_in_ec, stand_in_detail);
        STRIPE_ASIO_FUZZ_CHECK(reference && reference->find(cfg.api_key) != std::string::npos);
    }
    return 0;
}

} // namespace stripe_asio::fuzz

#endif
