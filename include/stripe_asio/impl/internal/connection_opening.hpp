// Opening a connection: name lookup (not waited on past a timeout or a stop), TCP connect, TLS
// handshake with the peer verified; and how transport failures map to the library's errors.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_CONNECTION_OPENING_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_CONNECTION_OPENING_HPP

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

/// A name lookup that nobody has to wait for. getaddrinfo cannot be interrupted, so when the
/// attempt's time runs out, or the call is cancelled or the client shut down, the wait ends at
/// once and the lookup finishes on its own, in the background, with nobody to tell.
struct name_lookup {
    explicit name_lookup(const asio::any_io_executor& ex) : resolver(ex), done(ex, clock_type::time_point::max()) {}
    tcp::resolver resolver;
    asio::steady_timer done; ///< its wait ends when the lookup does, or when the opener gives up
    tcp::resolver::results_type results;
    boost::system::error_code ec;
    bool finished = false;
};

inline awaitable<boost::system::error_code> resolve(client_impl& c, tcp::resolver::results_type& out) {
    if (auto injected = c.fault(io_point::resolve)) co_return injected;
    auto lookup = std::make_shared<name_lookup>(c.user_ex);
    lookup->resolver.async_resolve(
        c.url.host, c.url.port,
        asio::bind_executor(c.ex, [lookup](const boost::system::error_code& ec, tcp::resolver::results_type r) {
            lookup->ec = ec;
            lookup->results = std::move(r);
            lookup->finished = true;
            lookup->done.cancel();
        }));
    co_await lookup->done.async_wait(use_tuple); // cancellable, unlike the lookup
    if (!lookup->finished) co_return asio::error::operation_aborted;
    out = std::move(lookup->results);
    co_return lookup->ec;
}

/// Resolve, connect, TLS handshake with the peer verified. Returns the failure, if any.
inline awaitable<boost::system::error_code> open_connection(client_impl& c, connection& conn, std::string& detail) {
    // Cancellation (the caller's, or the attempt timeout's) is observed explicitly: the caller
    // gives the slot back either way.
    co_await asio::this_coro::throw_if_cancelled(false);
    auto& tcp_layer = conn.stream.next_layer();
    boost::system::error_code cec;
    if (c.host_is_ip) {
        // An address needs no lookup (and no resolver thread).
        tcp::endpoint endpoint(asio::ip::make_address(c.url.host), static_cast<unsigned short>(std::stoi(c.url.port)));
        if (!(cec = c.fault(io_point::connect))) std::tie(cec) = co_await tcp_layer.async_connect(endpoint, use_tuple);
    } else {
        tcp::resolver::results_type endpoints;
        auto rec = co_await resolve(c, endpoints);
        if (rec) {
            detail = "resolving " + c.url.host + ": " + rec.message();
            co_return rec;
        }
        if (c.shut_down || cancelled(co_await asio::this_coro::cancellation_state))
            co_return asio::error::operation_aborted;
        tcp::endpoint ignored_endpoint;
        if (!(cec = c.fault(io_point::connect)))
            std::tie(cec, ignored_endpoint) = co_await asio::async_connect(tcp_layer, endpoints, use_tuple);
    }
    if (cec) {
        detail = "connecting to " + c.url.host_header + ": " + cec.message();
        co_return cec;
    }
    if (c.shut_down || cancelled(co_await asio::this_coro::cancellation_state))
        co_return asio::error::operation_aborted;
    boost::system::error_code ignored;
    tcp_layer.set_option(tcp::no_delay(true), ignored);

    SSL* ssl = conn.stream.native_handle();
    // Asio asks OpenSSL to free its buffers between records; keeping them saves three 16 KiB
    // allocations per request at the cost of memory per idle connection.
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (c.host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, c.url.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, c.url.host.c_str());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, c.url.host.c_str(), 0);
    }
    if (c.session) SSL_set_session(ssl, c.session);
    if (c.shut_down) co_return asio::error::operation_aborted;
    boost::system::error_code hec = c.fault(io_point::handshake);
    if (!hec) std::tie(hec) = co_await conn.stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) {
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
            detail = std::string("TLS certificate verification failed: ") + X509_verify_cert_error_string(verify);
            if (!is_certificate_failure(hec)) co_return boost::system::error_code(errc::tls_verification_failed);
        } else {
            detail = "TLS handshake: " + hec.message();
        }
        co_return hec;
    }
    bump(SSL_session_reused(ssl) ? c.counters.tls_resumed : c.counters.tls_full);
    co_return boost::system::error_code{};
}

} // namespace stripe_asio::detail

#endif
