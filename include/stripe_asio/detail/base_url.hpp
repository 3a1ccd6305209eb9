#ifndef STRIPE_ASIO_DETAIL_BASE_URL_HPP
#define STRIPE_ASIO_DETAIL_BASE_URL_HPP

#include <stripe_asio/detail/validation.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

struct base_url_parts {
    std::string host; ///< without brackets for IPv6
    std::string port; ///< "443" unless given
    std::string prefix; ///< path prefix without a trailing '/', often empty
    std::string host_header; ///< Host header value: host, bracketed for IPv6, ":port" unless 443
};

/// https://host[:port][/prefix]; nullopt (and the reason in `why`) for anything else.
inline std::optional<base_url_parts> parse_base_url(std::string_view url, std::string& why) {
    constexpr std::string_view scheme = "https://";
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    bool scheme_ok = url.size() > scheme.size();
    for (std::size_t i = 0; scheme_ok && i < scheme.size(); ++i) scheme_ok = lower(url[i]) == scheme[i];
    if (!scheme_ok) {
        why = "base_url must start with https://";
        return std::nullopt;
    }
    url.remove_prefix(scheme.size());
    auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : url.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        why = "base_url must not hold user information";
        return std::nullopt;
    }
    base_url_parts parts;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "base_url has an unclosed IPv6 bracket";
            return std::nullopt;
        }
        parts.host = std::string(authority.substr(1, close - 1));
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                why = "base_url has junk after the IPv6 address";
                return std::nullopt;
            }
            port = rest.substr(1);
        }
    } else {
        auto colon = authority.find(':');
        parts.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (parts.host.empty()) {
        why = "base_url has no host";
        return std::nullopt;
    }
    for (char c : parts.host) {
        if (!(is_ascii_alnum(c) || c == '.' || c == '-' || c == ':' || c == '_')) {
            why = "base_url host has an invalid character";
            return std::nullopt;
        }
    }
    if (port.empty()) {
        parts.port = "443";
    } else {
        unsigned long value = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || port.size() > 5) {
                why = "base_url port is not a number";
                return std::nullopt;
            }
            value = value * 10 + unsigned(c - '0');
        }
        if (value == 0 || value > 65535) {
            why = "base_url port is out of range";
            return std::nullopt;
        }
        parts.port = std::to_string(value);
    }
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    for (char c : path) {
        if (!(is_ascii_alnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~')) {
            why = "base_url path may hold only letters, digits and / - . _ ~";
            return std::nullopt;
        }
    }
    parts.prefix = std::string(path);
    bool ipv6 = parts.host.find(':') != std::string::npos;
    parts.host_header = ipv6 ? "[" + parts.host + "]" : parts.host;
    if (parts.port != "443") parts.host_header += ":" + parts.port;
    return parts;
}

} // namespace stripe_asio::detail

#endif
