// The HTTP response path as the engine runs it: bytes arrive in pieces of any size, each piece
// is appended to the connection's buffer and fed to the reader, and the peer may close at any
// point. Whatever the server sends, the reader must end in a final response within the limits
// or a typed error, without ever needing more buffer than it promised.
//
// Input: five bytes of choices, then the bytes the server sends.
//   [0] header_bytes  (0: default 16 KiB, else 32 * n)
//   [1] body_bytes    (0: default 1 MiB, else 8 * n)
//   [2] framing_bytes (0: default 16 KiB, else 8 * (n - 1))
//   [3] bits 0-2: unused (interim answers are bounded by header_bytes); bits 3-5: largest piece (1, 2, 7, 64, 512, 4096,
//       65536 bytes, or the default 64 KiB read size)
//   [4] seed of the piece sizes
#ifndef STRIPE_ASIO_FUZZ_RESPONSE_READER_HPP
#define STRIPE_ASIO_FUZZ_RESPONSE_READER_HPP

#include "fuzz_support.hpp"

#include <stripe_asio/detail/response_reader.hpp>
#include <stripe_asio/error.hpp>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace stripe_asio::fuzz {

/// The status of the status line `stream` starts with ("HTTP/d.d ddd "), or -1 when it does not
/// start with one. Written apart from Beast, to know what the reader is looking at.
inline int leading_status(std::string_view stream) noexcept {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (stream.size() < 13 || stream.substr(0, 5) != "HTTP/" || !digit(stream[5]) || stream[6] != '.' ||
        !digit(stream[7]) || stream[8] != ' ' || !digit(stream[9]) || !digit(stream[10]) || !digit(stream[11]) ||
        stream[12] != ' ')
        return -1;
    return (stream[9] - '0') * 100 + (stream[10] - '0') * 10 + (stream[11] - '0');
}

/// The failures the reader documents: Beast's HTTP errors and two of ours.
inline bool is_documented_failure(const error_code& ec) {
    if (ec.category() == make_error_code(boost::beast::http::error::end_of_stream).category()) return true;
    return ec == errc::response_too_large || ec == errc::malformed_response;
}

/// Piece sizes from a small xorshift generator, so a short input can describe many splits.
class piece_sizes {
public:
    piece_sizes(std::uint8_t seed, std::size_t largest) noexcept : state_(0x9E3779B9u ^ seed), largest_(largest) {}
    std::size_t next() noexcept {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return 1 + state_ % largest_;
    }

private:
    std::uint32_t state_;
    std::size_t largest_;
};

inline int fuzz_response_reader(const std::uint8_t* data, std::size_t size) {
    input_reader in(data, size);
    detail::response_limits limits;
    if (auto n = in.byte()) limits.header_bytes = 32 * std::size_t(n);
    if (auto n = in.byte()) limits.body_bytes = 8 * std::size_t(n);
    if (auto n = in.byte()) limits.framing_bytes = 8 * std::size_t(n - 1);
    const std::uint8_t shape = in.byte();
    constexpr std::size_t read_size = 64 * 1024; // what the engine asks the socket for at most
    constexpr std::size_t largest_pieces[] = {1, 2, 7, 64, 512, 4096, 65536, read_size};
    piece_sizes pieces(in.byte(), largest_pieces[(shape >> 3) & 7]);
    std::string_view stream = in.rest();

    detail::response_reader reader;
    boost::beast::flat_buffer buffer;
    for (int response = 0; response < 2; ++response) { // the second one reuses the reader
        reader.start(limits);
        // The status line this response starts with, if the bytes ahead begin with one.
        std::string ahead(static_cast<const char*>(buffer.data().data()), buffer.size() < 13 ? buffer.size() : 13);
        ahead += stream.substr(0, 13 - ahead.size());
        const int first_status = leading_status(ahead);
        error_code ec;
        detail::read_progress progress = detail::read_progress::need_more;
        // Bytes left over from the first response are parsed before anything is read.
        if (buffer.size() != 0) progress = reader.feed(buffer, ec);
        while (!ec && progress == detail::read_progress::need_more && !stream.empty()) {
            // The engine's buffer is bounded by max_buffered(): a reader wanting more with that
            // much already waiting would make it read nothing, for ever.
            STRIPE_ASIO_FUZZ_CHECK(buffer.size() < limits.max_buffered());
            std::size_t n = pieces.next();
            if (n > stream.size()) n = stream.size();
            auto space = buffer.prepare(n);
            std::memcpy(space.data(), stream.data(), n);
            buffer.commit(n);
            stream.remove_prefix(n);
            STRIPE_ASIO_FUZZ_CHECK(buffer.size() <= limits.header_bytes + limits.framing_bytes + read_size);
            progress = reader.feed(buffer, ec);
        }
        if (!ec && progress == detail::read_progress::need_more) {
            // The peer closed: what is buffered is fed once more, then the end is judged.
            progress = reader.feed(buffer, ec);
            if (!ec && progress == detail::read_progress::need_more) progress = reader.end_of_stream(ec);
        }
        if (ec) {
            STRIPE_ASIO_FUZZ_CHECK(is_documented_failure(ec));
            return 0; // the engine closes the connection: nothing more is read from it
        }
        STRIPE_ASIO_FUZZ_CHECK(progress == detail::read_progress::done);
        const unsigned status = reader.status();
        STRIPE_ASIO_FUZZ_CHECK(status >= 200 && status <= 599);
        // Nothing but a 1xx answer is ever skipped: a stream that starts with any other status
        // line gets that response back (or an error), never a later one.
        if (first_status != -1 && !(first_status >= 100 && first_status <= 199))
            STRIPE_ASIO_FUZZ_CHECK(unsigned(first_status) == status);
        STRIPE_ASIO_FUZZ_CHECK(reader.body().size() <= limits.body_bytes);
        // The engine reads these: they must be readable, whatever the headers were.
        std::string_view request_id = reader.field("Request-Id");
        std::string_view retry = reader.field("stripe-should-retry");
        STRIPE_ASIO_FUZZ_CHECK(request_id.size() <= limits.header_bytes && retry.size() <= limits.header_bytes);
        (void)reader.keep_alive();
        STRIPE_ASIO_FUZZ_CHECK(reader.got_some());
    }
    return 0;
}

} // namespace stripe_asio::fuzz

#endif
