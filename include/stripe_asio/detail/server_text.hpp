// Text that came from a server, on its way to diagnostics, logs and terminals. A server may echo
// what it received (the API key among it) and may send anything at all: newlines that forge log
// lines, escape sequences that rewrite a terminal, megabytes of it.
#ifndef STRIPE_ASIO_DETAIL_SERVER_TEXT_HPP
#define STRIPE_ASIO_DETAIL_SERVER_TEXT_HPP

#include <stripe_asio/fixed_string.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

inline constexpr std::string_view redaction_mark = "[redacted]";

inline void replace_all(std::string& text, std::string_view secret) {
    if (secret.empty()) return;
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + redaction_mark.size()))
        text.replace(pos, secret.size(), redaction_mark);
}

/// The part of a key that is secret: what follows its mode prefix (sk_live_, rk_test_, ...),
/// when long enough to be recognised; else empty.
inline std::string_view secret_part(std::string_view api_key) noexcept {
    auto first = api_key.find('_');
    auto second = first == std::string_view::npos ? first : api_key.find('_', first + 1);
    if (second == std::string_view::npos) return {};
    auto rest = api_key.substr(second + 1);
    return rest.size() >= 12 ? rest : std::string_view{};
}

/// Replaces the API key in `text`, and its secret part alone.
inline void redact_key(std::string& text, std::string_view api_key) {
    replace_all(text, api_key);
    replace_all(text, secret_part(api_key));
}

/// Whether `text` holds the key or its secret part.
inline bool holds_key(std::string_view text, std::string_view api_key) noexcept {
    if (api_key.empty()) return false;
    auto secret = secret_part(api_key);
    return text.find(api_key) != std::string_view::npos ||
           (!secret.empty() && text.find(secret) != std::string_view::npos);
}

/// Appends `text` for a one-line log or terminal: control characters (C0, DEL, and the C1
/// range as UTF-8 encodes it) and backslashes and quotes as escapes, and at most `max_bytes`
/// of it, with a note of how much was left out.
inline void append_printable(std::string& out, std::string_view text, std::size_t max_bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    auto escape = [&out](unsigned char b) {
        out += "\\x";
        out += hex[b >> 4];
        out += hex[b & 0xF];
    };
    std::size_t n = text.size() < max_bytes ? text.size() : max_bytes;
    for (std::size_t i = 0; i < n; ++i) {
        auto b = static_cast<unsigned char>(text[i]);
        if (b == 0xC2 && i + 1 < n && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
            static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
            escape(b);
            escape(static_cast<unsigned char>(text[++i]));
        } else if (b < 0x20 || b == 0x7F) {
            escape(b);
        } else if (b == '\\' || b == '"') {
            out += '\\';
            out += char(b);
        } else {
            out += char(b);
        }
    }
    if (n < text.size()) {
        out += "...(";
        out += std::to_string(text.size() - n);
        out += " more bytes)";
    }
}

/// A Request-Id as the client keeps it: the key redacted, only visible ASCII, at most 64 bytes.
/// Stripe's are `req_` and letters and digits; anything else is the server's text, not ours.
inline void capture_request_id(fixed_string<64>& out, std::string_view header, std::string_view api_key) {
    if (holds_key(header, api_key)) {
        out.assign(redaction_mark);
        return;
    }
    char clean[64];
    std::size_t n = 0;
    for (char ch : header) {
        if (n == sizeof clean) break;
        clean[n++] = (ch > 0x20 && ch < 0x7F) ? ch : '?';
    }
    out.assign(std::string_view(clean, n));
}

} // namespace stripe_asio::detail

#endif
