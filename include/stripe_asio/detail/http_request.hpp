// The bytes of one request, written once per call and sent as they are on every attempt.
#ifndef STRIPE_ASIO_DETAIL_HTTP_REQUEST_HPP
#define STRIPE_ASIO_DETAIL_HTTP_REQUEST_HPP

#include <string>
#include <string_view>

namespace stripe_asio::detail {

/// The headers that are the same on every request of a client, each ending in CRLF.
inline std::string make_fixed_headers(std::string_view host_header, std::string_view api_key,
                                      std::string_view stripe_version, std::string_view library_version) {
    std::string h;
    h.reserve(512);
    h.append("Host: ").append(host_header).append("\r\n");
    h.append("Authorization: Bearer ").append(api_key).append("\r\n");
    h.append("Stripe-Version: ").append(stripe_version).append("\r\n");
    h.append("User-Agent: Stripe/v1 CppAsioBindings/").append(library_version).append("\r\n");
    h.append("X-Stripe-Client-User-Agent: {\"bindings_version\":\"")
        .append(library_version)
        .append("\",\"lang\":\"cpp\",\"lang_version\":\"")
        .append(std::to_string(__cplusplus))
        .append("\",\"publisher\":\"stripe-asio\",\"httplib\":\"boost.beast\"}\r\n");
    h.append("Accept: application/json\r\n");
    return h;
}

struct request_parts {
    std::string_view method; ///< "POST", "GET", "DELETE"
    std::string_view target; ///< path and query, already encoded
    std::string_view body; ///< form body (POST only)
    std::string_view idempotency_key; ///< empty: none
    std::string_view stripe_account; ///< empty: none
    bool has_body = true; ///< POST: Content-Type and Content-Length, even when empty
};

/// Appends the request to `r` (a connection's reused buffer, so no allocation once it has grown).
inline void append_request(std::string& r, std::string_view fixed_headers, const request_parts& p) {
    r.append(p.method).append(" ").append(p.target).append(" HTTP/1.1\r\n");
    r.append(fixed_headers);
    if (p.has_body) {
        r.append("Content-Type: application/x-www-form-urlencoded\r\n");
        r.append("Content-Length: ").append(std::to_string(p.body.size())).append("\r\n");
    }
    if (!p.idempotency_key.empty()) r.append("Idempotency-Key: ").append(p.idempotency_key).append("\r\n");
    if (!p.stripe_account.empty()) r.append("Stripe-Account: ").append(p.stripe_account).append("\r\n");
    r.append("\r\n");
    r.append(p.body);
}

inline std::string make_request(std::string_view fixed_headers, const request_parts& p) {
    std::string r;
    r.reserve(fixed_headers.size() + p.target.size() + p.body.size() + 256);
    append_request(r, fixed_headers, p);
    return r;
}

} // namespace stripe_asio::detail

#endif
