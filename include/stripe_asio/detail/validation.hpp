// Input checks done before anything is sent. Pure functions.
#ifndef STRIPE_ASIO_DETAIL_VALIDATION_HPP
#define STRIPE_ASIO_DETAIL_VALIDATION_HPP

#include <cstddef>
#include <string_view>

namespace stripe_asio::detail {

/// Stripe documents object ids of at most 255 characters.
inline constexpr std::size_t max_account_id_length = 255;
inline constexpr std::size_t max_idempotency_key_length = 255;

constexpr bool is_ascii_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

constexpr bool is_visible_ascii(std::string_view s) noexcept {
    for (char c : s)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

/// acct_ followed by one or more ASCII letters and digits, at most 255 characters in all.
constexpr bool is_valid_account_id(std::string_view id) noexcept {
    constexpr std::string_view prefix = "acct_";
    if (id.size() <= prefix.size() || id.size() > max_account_id_length) return false;
    if (id.substr(0, prefix.size()) != prefix) return false;
    for (char c : id.substr(prefix.size()))
        if (!is_ascii_alnum(c)) return false;
    return true;
}

constexpr bool is_valid_idempotency_key(std::string_view key) noexcept {
    return !key.empty() && key.size() <= max_idempotency_key_length && is_visible_ascii(key);
}

/// API keys are single tokens: no whitespace, no control characters, nothing outside ASCII.
constexpr bool is_valid_api_key_format(std::string_view key) noexcept { return is_visible_ascii(key); }

/// A header value we put on the wire: printable ASCII and spaces, so nothing can split a header.
constexpr bool is_safe_header_value(std::string_view s) noexcept {
    for (char c : s)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}

} // namespace stripe_asio::detail

#endif
