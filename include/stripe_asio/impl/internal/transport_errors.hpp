// How the failures of a connection's opening and of an exchange on it map to the library's errors.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_TRANSPORT_ERRORS_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_TRANSPORT_ERRORS_HPP

#include <stripe_asio/impl/internal/client_state.hpp>

namespace stripe_asio::detail {

inline bool cancelled(asio::cancellation_state st) noexcept { return st.cancelled() != asio::cancellation_type::none; }

inline bool is_certificate_failure(const boost::system::error_code& ec) noexcept {
    return ec.category() == asio::error::get_ssl_category() && ERR_GET_LIB(ec.value()) == ERR_LIB_SSL &&
           ERR_GET_REASON(ec.value()) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

/// Maps a socket-level failure of an attempt to the library's error.
inline error_code transport_error(const boost::system::error_code& ec) {
    if (is_certificate_failure(ec)) return errc::tls_verification_failed;
    return errc::connection_error;
}

/// Maps a failure while writing a request or reading its answer to the library's error: our
/// own (the response reader's limits), the HTTP parser's, or the transport's.
inline error_code exchange_error(const boost::system::error_code& ec) {
    if (ec.category() == error_category()) return ec;
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return errc::response_too_large;
    // A cut answer is the connection's fault; any other parser error is an answer that is not HTTP.
    bool parser_error = ec.category() == make_error_code(http::error::bad_version).category();
    if (parser_error && ec != http::error::partial_message && ec != http::error::end_of_stream)
        return errc::malformed_response;
    return transport_error(ec);
}

} // namespace stripe_asio::detail

#endif
