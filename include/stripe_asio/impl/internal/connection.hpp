// One keep-alive TLS connection of the pool. Owned by the client; used by one call at a time.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_CONNECTION_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_CONNECTION_HPP

#include <stripe_asio/detail/response_reader.hpp>
#include <stripe_asio/fixed_string.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include <openssl/ssl.h>

namespace stripe_asio::detail {

using clock_type = std::chrono::steady_clock;

/// A connection carries everything a request and its response need, reused from one request
/// to the next, so a call holds none of it while it waits and an exchange allocates nothing
/// once the buffers have grown.
struct connection {
    connection(const boost::asio::any_io_executor& ex, boost::asio::ssl::context& tls, const response_limits& limits)
        : stream(ex, tls), buffer(limits.max_buffered()) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Asio's TLS stream over a plain socket: requests go out as one buffer, so Beast's
    /// flattening wrapper would only add an allocation per write, and the attempt timeout is the
    /// client's (one timer for all attempts), not a timer per read and write.
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream;
    boost::beast::flat_buffer buffer; ///< response bytes not parsed yet; bounded (see response_limits)
    std::string out; ///< request bytes, rewritten for every request
    response_reader reader; ///< the response being read, then the last one read
    fixed_string<64> request_id; ///< the last response's Request-Id, as kept (capture_request_id)
    /// Cancels the connection's opening (lookup, connect, handshake): kept here rather than in
    /// every call, since a connection is opened once and by one call.
    boost::asio::cancellation_signal opening_signal;
    clock_type::time_point idle_since{};

    /// Whether the last response left nothing behind that the TLS layer already holds: bytes
    /// after a response are never the next response. Costs no system call.
    bool nothing_buffered() noexcept {
        SSL* ssl = stream.native_handle();
        return buffer.size() == 0 && !SSL_has_pending(ssl) && BIO_ctrl_pending(SSL_get_rbio(ssl)) == 0;
    }

    /// Before a reuse, and on idle connections: reads without blocking through every layer
    /// (our buffer, Asio's TLS input, OpenSSL's, the socket). True only when nothing at all is
    /// there. Anything found (a late duplicate answer, garbage, an alert, a close) makes the
    /// connection unusable: the next response read on it could not be told from a leftover.
    /// TLS 1.3 session tickets are handshake messages, taken by OpenSSL without counting as data.
    bool quiet() noexcept {
        if (!stream.next_layer().is_open() || buffer.size() != 0) return false;
        boost::system::error_code ec;
        // For this read; Asio's own reads don't care. Set once: each change is a system call.
        if (!stream.next_layer().non_blocking()) stream.next_layer().non_blocking(true, ec);
        if (ec) return false;
        char byte;
        std::size_t n = stream.read_some(boost::asio::buffer(&byte, 1), ec);
        return n == 0 && (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again);
    }

    void close() noexcept {
        // We close without a TLS close_notify round trip. Telling OpenSSL the shutdown happened
        // keeps it from marking the session unresumable, so the next connection resumes.
        SSL_set_shutdown(stream.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        boost::system::error_code ignored;
        stream.next_layer().close(ignored);
    }

    /// Ends the pending reads and writes with operation_aborted (cancellation, attempt timeout).
    /// The connection is discarded afterwards. Shutting the socket down too matters: cancel()
    /// alone misses a read the TLS layer is about to start from a completion already queued,
    /// which would then wait for the peer for ever; after shutdown every read and write fails
    /// at once.
    void cancel_io() noexcept {
        boost::system::error_code ignored;
        auto& socket = stream.next_layer();
        socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        socket.cancel(ignored);
    }
};

} // namespace stripe_asio::detail

#endif
