// application/x-www-form-urlencoded bodies as the official SDKs write them.
#ifndef STRIPE_ASIO_DETAIL_FORM_ENCODING_HPP
#define STRIPE_ASIO_DETAIL_FORM_ENCODING_HPP

#include <stripe_asio/detail/validation.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stripe_asio::detail {

constexpr bool is_unreserved(char c) noexcept {
    return is_ascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/// RFC 3986 percent-encoding: everything but unreserved characters becomes %XX. With
/// keep_brackets, '[' and ']' stay as they are (SDKs write keys as expand[0]).
inline void percent_encode(std::string& out, std::string_view in, bool keep_brackets = false) {
    constexpr char hex[] = "0123456789ABCDEF";
    for (char c : in) {
        if (is_unreserved(c) || (keep_brackets && (c == '[' || c == ']'))) {
            out += c;
        } else {
            auto b = static_cast<unsigned char>(c);
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 0xF];
        }
    }
}

using form_params = std::vector<std::pair<std::string, std::string>>;

inline void append_form_param(std::string& body, std::string_view key, std::string_view value) {
    if (!body.empty()) body += '&';
    percent_encode(body, key, true);
    body += '=';
    percent_encode(body, value);
}

inline std::string encode_form(const form_params& params) {
    std::string body;
    for (const auto& [key, value] : params) append_form_param(body, key, value);
    return body;
}

} // namespace stripe_asio::detail

#endif
