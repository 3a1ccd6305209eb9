// The seam between the engine and the bytes: one connection's stream, as the engine uses it.
// A client's streams are TLS over TCP (tls_stream.hpp) unless a test gives the client a
// stream_source of its own, such as a scripted peer in memory: then every step of the engine
// runs without a socket and, with the engine's clock set by hand (engine_clock.hpp), without
// real time. The engine's handler is one concrete type (call_step), so the seam costs one
// indirect call per operation and no allocation. Engine-only.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_BYTE_STREAM_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_BYTE_STREAM_HPP

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <memory>
#include <string>

namespace stripe_asio::detail {

class client_impl;
struct call_step;

class byte_stream {
public:
    virtual ~byte_stream() = default;

    /// Opens the stream to the client's server: for TLS, the name lookup, the connection and
    /// the handshake with the peer verified. Ends early, with operation_aborted, when the
    /// coroutine's cancellation slot fires. On failure, `detail` says what failed.
    virtual boost::asio::awaitable<boost::system::error_code> open(client_impl& c, std::string& detail) = 0;
    /// Writes all of `bytes`, then runs `next` (on its own executor, never inside this call).
    virtual void async_write(boost::asio::const_buffer bytes, call_step&& next) = 0;
    /// Reads what is there (at least one byte, or an error) into `into`, then runs `next`.
    virtual void async_read_some(boost::asio::mutable_buffer into, call_step&& next) = 0;
    /// Whether no byte already received is held below the engine's buffer. No system call.
    virtual bool nothing_buffered() noexcept = 0;
    /// Open, and nothing at all waiting to be read, found without blocking. Anything waiting (a
    /// late answer, garbage, a close) makes the stream unfit for another request.
    virtual bool quiet() noexcept = 0;
    /// Ends the pending read and write with operation_aborted, and every later one at once.
    virtual void cancel_io() noexcept = 0;
    /// Closes the stream without a round trip; pending operations end with operation_aborted.
    virtual void close() noexcept = 0;
};

/// Where a client's streams come from, when not from TLS over TCP (tests).
class stream_source {
public:
    /// A new, unopened stream whose operations complete on `ex`.
    virtual std::unique_ptr<byte_stream> make_stream(const boost::asio::any_io_executor& ex) = 0;

protected:
    ~stream_source() = default;
};

} // namespace stripe_asio::detail

#endif
