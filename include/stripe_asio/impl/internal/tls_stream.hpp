// The client's own streams: TLS over TCP. Opening is a name lookup (not waited on past a timeout
// or a stop), a TCP connect and a TLS handshake with the peer verified; liveness is read from
// every layer without blocking. Engine-only.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_TLS_STREAM_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_TLS_STREAM_HPP

#include <stripe_asio/impl/internal/client_state.hpp>
#include <stripe_asio/impl/internal/call_steps.hpp>
#include <stripe_asio/impl/internal/transport_errors.hpp>

namespace stripe_asio::detail {

/// A name lookup that nobody has to wait for. getaddrinfo cannot be interrupted, so when the
/// attempt's time runs out, or the call is cancelled or the client shut down, the wait ends at
/// once and the lookup finishes on its own, in the background, with nobody to tell.
struct name_lookup {
    explicit name_lookup(const asio::any_io_executor& ex) : resolver(ex), done(ex, clock_type::time_point::max()) {}
    tcp::resolver resolver;
    engine_timer done; ///< its wait ends when the lookup does, or when the opener gives up
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

class tls_stream final : public byte_stream {
public:
    tls_stream(const asio::any_io_executor& ex, ssl::context& tls) : stream_(ex, tls) {}

    awaitable<boost::system::error_code> open(client_impl& c, std::string& detail) override;

    void async_write(asio::const_buffer bytes, call_step&& next) override {
        asio::async_write(stream_, bytes, std::move(next));
    }

    void async_read_some(asio::mutable_buffer into, call_step&& next) override {
        stream_.async_read_some(into, std::move(next));
    }

    /// Asio's TLS input and OpenSSL's are both empty.
    bool nothing_buffered() noexcept override {
        SSL* ssl = stream_.native_handle();
        return !SSL_has_pending(ssl) && BIO_ctrl_pending(SSL_get_rbio(ssl)) == 0;
    }

    /// Reads without blocking through every layer (Asio's TLS input, OpenSSL's, the socket).
    /// TLS 1.3 session tickets are handshake messages, taken by OpenSSL without counting as data.
    bool quiet() noexcept override {
        auto& socket = stream_.next_layer();
        if (!socket.is_open()) return false;
        boost::system::error_code ec;
        // For this read; Asio's own reads don't care. Set once: each change is a system call.
        if (!socket.non_blocking()) socket.non_blocking(true, ec);
        if (ec) return false;
        char byte;
        std::size_t n = stream_.read_some(asio::buffer(&byte, 1), ec);
        return n == 0 && (ec == asio::error::would_block || ec == asio::error::try_again);
    }

    /// Shutting the socket down too matters: cancel() alone misses a read the TLS layer is about
    /// to start from a completion already queued, which would then wait for the peer for ever;
    /// after shutdown every read and write fails at once.
    void cancel_io() noexcept override {
        boost::system::error_code ignored;
        auto& socket = stream_.next_layer();
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.cancel(ignored);
    }

    void close() noexcept override {
        // We close without a TLS close_notify round trip. Telling OpenSSL the shutdown happened
        // keeps it from marking the session unresumable, so the next connection resumes.
        SSL_set_shutdown(stream_.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        boost::system::error_code ignored;
        stream_.next_layer().close(ignored);
    }

private:
    /// Asio's TLS stream over a plain socket: requests go out as one buffer, so Beast's
    /// flattening wrapper would only add an allocation per write, and the attempt timeout is the
    /// client's (one timer for all attempts), not a timer per read and write.
    ssl::stream<tcp::socket> stream_;
};

/// Resolve, connect, TLS handshake with the peer verified. Returns the failure, if any.
inline awaitable<boost::system::error_code> tls_stream::open(client_impl& c, std::string& detail) {
    // Cancellation (the caller's, or the attempt timeout's) is observed explicitly: the caller
    // gives the slot back either way.
    co_await asio::this_coro::throw_if_cancelled(false);
    auto& tcp_layer = stream_.next_layer();
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

    SSL* ssl = stream_.native_handle();
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
    if (!hec) std::tie(hec) = co_await stream_.async_handshake(ssl::stream_base::client, use_tuple);
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

/// A new connection: over the test's stream source when there is one, else TLS over TCP.
inline connection& client_impl::add_connection() {
    std::unique_ptr<byte_stream> stream =
        streams ? streams->make_stream(user_ex) : std::make_unique<tls_stream>(user_ex, tls);
    connections.push_back(std::make_unique<connection>(std::move(stream), response_limits_for(cfg)));
    return *connections.back();
}

} // namespace stripe_asio::detail

#endif
