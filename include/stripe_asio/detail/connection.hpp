// One keep-alive TLS connection of the pool. Owned by the client; used by one call at a time.
#ifndef STRIPE_ASIO_DETAIL_CONNECTION_HPP
#define STRIPE_ASIO_DETAIL_CONNECTION_HPP

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <cerrno>

namespace stripe_asio::detail {

using clock_type = std::chrono::steady_clock;

struct connection {
    connection(const boost::asio::any_io_executor& ex, boost::asio::ssl::context& tls) : stream(ex, tls) {}

    boost::beast::ssl_stream<boost::beast::tcp_stream> stream;
    boost::beast::flat_buffer buffer; ///< response bytes
    std::string out;                  ///< request bytes, rewritten for every request
    clock_type::time_point idle_since{};

    void close() noexcept {
        // We close without a TLS close_notify round trip. Telling OpenSSL the shutdown happened
        // keeps it from marking the session unresumable, so the next connection resumes.
        SSL_set_shutdown(stream.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        boost::system::error_code ignored;
        boost::beast::get_lowest_layer(stream).socket().close(ignored);
    }

    /// True when the socket shows the peer is gone (EOF, an alert or a reset waiting) without
    /// blocking: a keep-alive connection closed by the server while it sat idle.
    bool peer_has_closed() noexcept {
        auto& socket = boost::beast::get_lowest_layer(stream).socket();
        if (!socket.is_open()) return true;
        char byte;
        ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        return true; // 0: EOF; > 0: nothing is owed to us between responses, so a close is coming
    }
};

} // namespace stripe_asio::detail

#endif
