// From a response's status and body to a result or an error. No I/O.
#ifndef STRIPE_ASIO_DETAIL_RESPONSE_PARSING_HPP
#define STRIPE_ASIO_DETAIL_RESPONSE_PARSING_HPP

#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/json_response.hpp>
#include <stripe_asio/login_link.hpp>

#include <string>
#include <string_view>

namespace stripe_asio::detail {

/// The SDKs' mapping of an error status (and Stripe's error type) to an error.
STRIPE_ASIO_DECL errc errc_from_status(unsigned status, std::string_view type) noexcept;

/// Fills type, code, decline_code, message, param and doc_url from {"error":{...}}; false when
/// the body is not such an object (the fields are then left empty).
STRIPE_ASIO_DECL bool parse_stripe_error(std::string_view body, diagnostics& diag);

/// A 200 body into a login_link: all of object == "login_link", integer created and a
/// non-empty url are required. On failure returns malformed_response and says why.
STRIPE_ASIO_DECL error_code parse_login_link(std::string_view body, login_link& out, std::string& why);

/// A 2xx body that must be a JSON object.
STRIPE_ASIO_DECL error_code parse_json_object(std::string_view body, json_response& out, std::string& why);

/// Replaces every occurrence of `secret` in `text` (a server may echo what it got).
STRIPE_ASIO_DECL void redact(std::string& text, std::string_view secret);

} // namespace stripe_asio::detail

#ifdef STRIPE_ASIO_HEADER_ONLY
#include <stripe_asio/impl/response_parsing.ipp>
#endif

#endif
