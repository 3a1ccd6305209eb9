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

/// Stripe documents login link URLs of at most 5000 characters; a longer one is refused on its
/// own terms, since the caller answers with it in a Location header, which servers and browsers
/// cap at a few KiB (8 KiB header lines are common).
inline constexpr std::size_t max_login_url_length = 5000;

/// Whether `url` may be handed to a browser as a redirect: an absolute https URL with a host
/// name or address (and maybe a port), no user info, and nothing but visible ASCII without
/// backslashes. Anything else could send the user elsewhere or split the redirect's headers.
STRIPE_ASIO_DECL bool is_acceptable_login_url(std::string_view url) noexcept;

/// A 200 body into a login_link: all of object == "login_link", integer created and a url
/// that passes is_acceptable_login_url are required. On failure returns malformed_response and
/// says why.
STRIPE_ASIO_DECL error_code parse_login_link(std::string_view body, login_link& out, std::string& why);

/// Whether a 2xx body names an object other than `asked_id` (a JSON object whose string "id" is
/// another): then it is not the answer to a request for `asked_id`.
STRIPE_ASIO_DECL bool names_another_object(std::string_view body, std::string_view asked_id);

/// A 2xx body that must be a JSON object.
STRIPE_ASIO_DECL error_code parse_json_object(std::string_view body, json_response& out, std::string& why);

} // namespace stripe_asio::detail

#ifdef STRIPE_ASIO_HEADER_ONLY
#include <stripe_asio/impl/response_parsing.ipp>
#endif

#endif
