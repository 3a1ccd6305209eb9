// parse_base_url over any string: what it accepts must be safe to put in a Host header and a
// request line, and must describe the same endpoint when written back out and parsed again.
#ifndef STRIPE_ASIO_FUZZ_BASE_URL_HPP
#define STRIPE_ASIO_FUZZ_BASE_URL_HPP

#include "fuzz_support.hpp"

#include <stripe_asio/detail/base_url.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stripe_asio::fuzz {

inline bool is_port_number(std::string_view port) noexcept {
    if (port.empty() || port.size() > 5 || port.front() == '0') return false; // canonical: no leading zero
    unsigned long value = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + unsigned(c - '0');
    }
    return value >= 1 && value <= 65535;
}

inline int fuzz_base_url(const std::uint8_t* data, std::size_t size) {
    const std::string_view url(reinterpret_cast<const char*>(data), size);
    std::string why;
    auto parts = detail::parse_base_url(url, why);
    if (!parts) {
        STRIPE_ASIO_FUZZ_CHECK(!why.empty());
        return 0;
    }

    STRIPE_ASIO_FUZZ_CHECK(!parts->host.empty());
    STRIPE_ASIO_FUZZ_CHECK(is_port_number(parts->port));
    // Goes into the Host header and the TLS SNI / certificate check: one visible-ASCII token.
    STRIPE_ASIO_FUZZ_CHECK(detail::is_visible_ascii(parts->host_header));
    STRIPE_ASIO_FUZZ_CHECK(detail::is_visible_ascii(parts->host));
    STRIPE_ASIO_FUZZ_CHECK(parts->host_header.find_first_of("\r\n /@?#") == std::string::npos);
    // Goes in front of every request path: empty, or '/' + segments, no trailing '/'.
    STRIPE_ASIO_FUZZ_CHECK(detail::is_visible_ascii(parts->prefix));
    STRIPE_ASIO_FUZZ_CHECK(parts->prefix.empty() || (parts->prefix.front() == '/' && parts->prefix.back() != '/'));
    STRIPE_ASIO_FUZZ_CHECK(parts->prefix.find_first_of("?#%\\") == std::string::npos);

    // host_header is the host (bracketed when it is an IPv6 address), then ":port" unless 443.
    const bool ipv6 = parts->host.find(':') != std::string::npos;
    std::string expected_header = ipv6 ? "[" + parts->host + "]" : parts->host;
    if (parts->port != "443") expected_header += ":" + parts->port;
    STRIPE_ASIO_FUZZ_CHECK(parts->host_header == expected_header);

    // Written back out in canonical form, it parses to the same parts.
    std::string again_why;
    auto again = detail::parse_base_url(
        "https://" + expected_header + (parts->port == "443" ? ":443" : "") + parts->prefix + "/", again_why);
    STRIPE_ASIO_FUZZ_CHECK(again && again->host == parts->host && again->port == parts->port &&
                           again->prefix == parts->prefix && again->host_header == parts->host_header);
    return 0;
}

} // namespace stripe_asio::fuzz

#endif
