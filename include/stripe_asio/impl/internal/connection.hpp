// One keep-alive connection of the pool. Owned by the client; used by one call at a time.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_CONNECTION_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_CONNECTION_HPP

#include <stripe_asio/detail/response_reader.hpp>
#include <stripe_asio/fixed_string.hpp>
#include <stripe_asio/impl/internal/byte_stream.hpp>
#include <stripe_asio/impl/internal/engine_clock.hpp>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <memory>
#include <string>

namespace stripe_asio::detail {

/// A connection carries everything a request and its response need, reused from one request
/// to the next, so a call holds none of it while it waits and an exchange allocates nothing
/// once the buffers have grown.
struct connection {
    connection(std::unique_ptr<byte_stream> s, const response_limits& limits)
        : stream(std::move(s)), buffer(limits.max_buffered()) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    std::unique_ptr<byte_stream> stream; ///< TLS over TCP, or a test's (byte_stream.hpp)
    boost::beast::flat_buffer buffer; ///< response bytes not parsed yet; bounded (see response_limits)
    std::string out; ///< request bytes, rewritten for every request
    response_reader reader; ///< the response being read, then the last one read
    fixed_string<64> request_id; ///< the last response's Request-Id, as kept (capture_request_id)
    /// Cancels the connection's opening (lookup, connect, handshake): kept here rather than in
    /// every call, since a connection is opened once and by one call.
    boost::asio::cancellation_signal opening_signal;
    clock_type::time_point idle_since{};

    /// Whether the last response left nothing behind: bytes after a response are never the
    /// next response. Costs no system call.
    bool nothing_buffered() noexcept { return buffer.size() == 0 && stream->nothing_buffered(); }

    /// Before a reuse, and on idle connections: true only when nothing at all is waiting, in our
    /// buffer or below it (see byte_stream::quiet).
    bool quiet() noexcept { return buffer.size() == 0 && stream->quiet(); }

    void close() noexcept { stream->close(); }

    /// Ends the pending reads and writes with operation_aborted (cancellation, attempt timeout).
    /// The connection is discarded afterwards.
    void cancel_io() noexcept { stream->cancel_io(); }
};

} // namespace stripe_asio::detail

#endif
