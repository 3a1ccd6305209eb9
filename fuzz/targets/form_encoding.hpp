// Form bodies built from any keys, values and expand entries: the output must be a well-formed
// application/x-www-form-urlencoded body that decodes back to exactly what went in.
#ifndef STRIPE_ASIO_FUZZ_FORM_ENCODING_HPP
#define STRIPE_ASIO_FUZZ_FORM_ENCODING_HPP

#include "fuzz_support.hpp"

#include <stripe_asio/detail/form_encoding.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stripe_asio::fuzz {

/// RFC 3986 unreserved characters, spelled out rather than reusing the code under test.
constexpr bool rfc3986_unreserved(char c) noexcept {
    constexpr std::string_view set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    return set.find(c) != std::string_view::npos;
}

/// The inverse of percent_encode, strict: only unreserved characters (and brackets when allowed)
/// may appear as themselves, every '%' starts two upper-case hex digits, and nothing is encoded
/// that need not be (the SDKs' canonical form). nullopt when `encoded` breaks any of that.
inline std::optional<std::string> strict_decode(std::string_view encoded, bool brackets_allowed) {
    std::string out;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        char c = encoded[i];
        if (rfc3986_unreserved(c) || (brackets_allowed && (c == '[' || c == ']'))) {
            out += c;
            continue;
        }
        if (c != '%' || i + 2 >= encoded.size() || !is_hex_upper(encoded[i + 1]) || !is_hex_upper(encoded[i + 2]))
            return std::nullopt;
        char decoded = char(hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2]));
        if (rfc3986_unreserved(decoded) || (brackets_allowed && (decoded == '[' || decoded == ']')))
            return std::nullopt; // encoded although it could have stayed as it was
        out += decoded;
        i += 2;
    }
    return out;
}

/// A body split at '&' and then at the first '=' of each pair, both parts strictly decoded.
/// Keys may hold brackets, values may not. nullopt when any piece is malformed.
inline std::optional<std::vector<std::pair<std::string, std::string>>> decode_form(std::string_view body) {
    std::vector<std::pair<std::string, std::string>> pairs;
    if (body.empty()) return pairs;
    for (;;) {
        std::string_view pair = body.substr(0, body.find('&'));
        auto eq = pair.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        auto key = strict_decode(pair.substr(0, eq), true);
        auto value = strict_decode(pair.substr(eq + 1), false);
        if (!key || !value) return std::nullopt;
        pairs.emplace_back(std::move(*key), std::move(*value));
        if (pair.size() == body.size()) return pairs;
        body.remove_prefix(pair.size() + 1);
    }
}

inline int fuzz_form_encoding(const std::uint8_t* data, std::size_t size) {
    input_reader in(data, size);
    switch (in.byte() % 4) {
    case 0: { // one string, as a key or as a value
        const bool keep_brackets = in.flag();
        const std::string_view text = in.rest();
        std::string out = "prefix=";
        detail::percent_encode(out, text, keep_brackets);
        STRIPE_ASIO_FUZZ_CHECK(out.compare(0, 7, "prefix=") == 0); // appends, never rewrites
        auto decoded = strict_decode(std::string_view(out).substr(7), keep_brackets);
        STRIPE_ASIO_FUZZ_CHECK(decoded && *decoded == text);
        break;
    }
    case 1: { // key/value pairs, some appended to a body that already has one
        detail::form_params params;
        while (!in.empty() && params.size() < 64) {
            std::string_view key = in.short_string();
            std::string_view value = in.short_string();
            params.emplace_back(key, value);
        }
        const std::string body = detail::encode_form(params);
        auto pairs = decode_form(body);
        STRIPE_ASIO_FUZZ_CHECK(pairs && *pairs == params);

        std::string appended = body;
        detail::append_form_param(appended, "k[0]", "v&w=x");
        STRIPE_ASIO_FUZZ_CHECK(appended.compare(0, body.size(), body) == 0);
        auto more = decode_form(appended);
        STRIPE_ASIO_FUZZ_CHECK(more && more->size() == params.size() + 1 && more->back().first == "k[0]" &&
                               more->back().second == "v&w=x");
        break;
    }
    case 2: { // bracketed keys (expand[0], metadata[k]) after an optional first parameter
        std::string body;
        const bool with_param = in.flag();
        if (with_param) {
            std::string_view key = in.short_string(); // one statement each: argument order is unspecified
            std::string_view value = in.short_string();
            detail::append_form_param(body, key, value);
        }
        std::vector<std::string> values;
        while (!in.empty() && values.size() < 64) values.emplace_back(in.short_string());
        const std::size_t first = with_param ? 1 : 0;
        for (std::size_t i = 0; i < values.size(); ++i)
            detail::append_form_param(body, "expand[" + std::to_string(i) + "]", values[i]);
        auto pairs = decode_form(body);
        STRIPE_ASIO_FUZZ_CHECK(pairs && pairs->size() == first + values.size());
        for (std::size_t i = 0; pairs && i < values.size() && first + i < pairs->size(); ++i) {
            STRIPE_ASIO_FUZZ_CHECK((*pairs)[first + i].first == "expand[" + std::to_string(i) + "]");
            STRIPE_ASIO_FUZZ_CHECK((*pairs)[first + i].second == values[i]);
        }
        break;
    }
    default: { // the same pairs through append_form_param one by one and through encode_form
        detail::form_params params;
        std::string body;
        while (!in.empty() && params.size() < 64) {
            std::string_view key = in.short_string();
            std::string_view value = in.short_string();
            params.emplace_back(key, value);
            detail::append_form_param(body, params.back().first, params.back().second);
        }
        STRIPE_ASIO_FUZZ_CHECK(body == detail::encode_form(params));
        break;
    }
    }
    return 0;
}

} // namespace stripe_asio::fuzz

#endif
