// The library's error codes. Every failure of a call is one of these, or
// boost::asio::error::operation_aborted when the caller cancelled it.
#ifndef STRIPE_ASIO_ERROR_HPP
#define STRIPE_ASIO_ERROR_HPP

#include <stripe_asio/detail/decl.hpp>

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace stripe_asio {

using boost::system::error_code;

enum class errc {
    // Bad input, found before anything is sent.
    invalid_account_id = 1, ///< empty, not `acct_` + letters and digits, or too long
    invalid_idempotency_key, ///< empty when given, over 255 characters, or not visible ASCII
    invalid_request_options, ///< a bad Stripe-Account, expand entry, method or path
    missing_api_key, ///< no API key in the configuration
    invalid_api_key_format, ///< the key holds whitespace or control characters
    invalid_config, ///< another configuration field is wrong (see the message)

    // Stripe answered with an error status (diagnostics hold type, code, message, ...).
    invalid_request, ///< 400 or 404
    authentication, ///< 401
    card_error, ///< 402
    permission, ///< 403
    conflict, ///< 409 (lock_timeout, idempotency_key_in_use)
    rate_limit, ///< 429
    idempotency_error, ///< the key was used with other parameters
    api_error, ///< 5xx and any other status

    // An answer came, but not one that can be used.
    malformed_response, ///< not HTTP, not JSON, or not the expected object
    response_too_large, ///< over `config::max_response_bytes`

    // No usable answer.
    connection_error, ///< connect, reset, EOF, truncated response
    tls_verification_failed, ///< the server's certificate or host name did not verify
    attempt_timeout, ///< one attempt took longer than its timeout
    deadline_exceeded, ///< the call's overall deadline passed

    // The client itself.
    too_many_pending, ///< `config::max_pending` callers already wait for a connection
    client_shut_down, ///< the client was destroyed while the call was in flight
    out_of_memory, ///< memory ran out inside one of the call's steps; its slot and connection were given back
    /// The rate budget (config::rate_budget) has no room before the call's deadline, or
    /// max_pending calls already wait for it; nothing was sent (see diagnostics::rate_budget_wait).
    rate_budget_exhausted,
};

STRIPE_ASIO_DECL const boost::system::error_category& error_category() noexcept;

inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

/// A short stable name of the error ("rate_limit", "connection_error", ...), for logs and tools.
STRIPE_ASIO_DECL const char* error_kind(const error_code& ec) noexcept;

} // namespace stripe_asio

template <>
struct boost::system::is_error_code_enum<stripe_asio::errc> : std::true_type {};

#ifdef STRIPE_ASIO_HEADER_ONLY
#include <stripe_asio/impl/error.ipp>
#endif

#endif
