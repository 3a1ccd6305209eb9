// One keep-alive TLS connection of the pool. Owned by the client; used by one call at a time.
#ifndef STRIPE_ASIO_DETAIL_CONNECTION_HPP
#define STRIPE_ASIO_DETAIL_CONNECTION_HPP

#include <stripe_asio/detail/arena_allocator.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <cerrno>

namespace stripe_asio::detail {

using clock_type = std::chrono::steady_clock;

/// A connection carries everything a request and its response need, reused from one request
/// to the next, so a call holds none of it while it waits and an exchange allocates nothing
/// once the buffers have grown.
struct connection {
    static constexpr std::size_t kept_body_capacity = 64 * 1024;
    using response_parser =
        boost::beast::http::response_parser<boost::beast::http::string_body, arena_allocator<char>>;

    connection(const boost::asio::any_io_executor& ex, boost::asio::ssl::context& tls)
        : stream(ex, tls), header_arena(header_space, sizeof header_space) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Asio's TLS stream over a plain socket: requests go out as one buffer, so Beast's
    /// flattening wrapper would only add an allocation per write, and the attempt timeout is the
    /// client's (one timer for all attempts), not a timer per read and write.
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream;
    boost::beast::flat_buffer buffer; ///< response bytes
    std::string out;                  ///< request bytes, rewritten for every request
    std::string body;                 ///< the last response's body; keeps its capacity
    alignas(std::max_align_t) unsigned char header_space[2048];
    arena header_arena; ///< the header map's memory, declared before the parser that uses it
    std::optional<response_parser> parser;
    clock_type::time_point idle_since{};
    bool has_read_response = false;

    /// A parser for the next response: its header map in this connection's arena, its body in
    /// `body`'s storage.
    response_parser& start_response(std::size_t header_limit, std::size_t body_limit) {
        parser.reset();
        header_arena.next = header_arena.begin;
        parser.emplace(std::piecewise_construct, std::make_tuple(),
                       std::make_tuple(arena_allocator<char>(header_arena)));
        parser->header_limit(header_limit);
        parser->body_limit(body_limit);
        // An unusually large body's storage is not kept for the life of the connection.
        if (body.capacity() > kept_body_capacity) std::string().swap(body);
        body.clear();
        parser->get().body().swap(body);
        return *parser;
    }

    /// Takes the body back from the parser (the header map stays readable until the next
    /// start_response).
    std::string_view finish_response() {
        body.swap(parser->get().body());
        return body;
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

    /// True when the socket shows the peer is gone, without blocking: a keep-alive connection
    /// closed by the server while it sat idle (its FIN or a reset arrived), or bytes waiting
    /// between responses on a connection that has read a response (nothing is owed to us then:
    /// an alert, or an error page before a close). On a connection that has not read yet, bytes
    /// waiting are the server's TLS 1.3 session tickets, not a close.
    bool peer_has_closed() noexcept {
        auto& socket = stream.next_layer();
        if (!socket.is_open()) return true;
#ifdef POLLRDHUP
        pollfd p{socket.native_handle(), POLLIN | POLLRDHUP, 0};
        int n = ::poll(&p, 1, 0);
        if (n < 0) return errno != EINTR;
        if (n == 0) return false;
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
        return has_read_response;
#else
        char byte;
        ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        return n == 0 || has_read_response; // 0: EOF; > 0: see above
#endif
    }
};

} // namespace stripe_asio::detail

#endif
