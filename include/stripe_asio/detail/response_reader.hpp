// Reads one HTTP/1.1 response out of a connection's buffer, sans-io: the engine appends what the
// socket gave and calls feed(); this decides when the answer is complete and what it costs.
// Every byte the server sends counts against a limit (status line and headers, body, chunk
// framing with its extensions and trailers), interim 1xx answers are skipped while their bytes
// together fit the header limit, and the buffer the bytes wait in has a maximum size.
#ifndef STRIPE_ASIO_DETAIL_RESPONSE_READER_HPP
#define STRIPE_ASIO_DETAIL_RESPONSE_READER_HPP

#include <stripe_asio/detail/arena_allocator.hpp>
#include <stripe_asio/error.hpp>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/version.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace stripe_asio::detail {

struct response_limits {
    /// Status line and header fields of one response; and, separately, of all the interim 1xx
    /// answers before it together (RFC 9110 sets no count of them, so their bytes are bounded).
    std::size_t header_bytes = 16 * 1024;
    std::size_t body_bytes = 1024 * 1024; ///< the final response's body
    std::size_t framing_bytes = 16 * 1024; ///< chunk-size lines, their extensions and the trailers, in all

    /// The most bytes that ever wait unparsed: one header block, or one chunk line or trailer block.
    std::size_t max_buffered() const noexcept { return header_bytes + framing_bytes; }
};

enum class read_progress { need_more, done };

class response_reader {
public:
    using parser_type = boost::beast::http::response_parser<boost::beast::http::string_body, arena_allocator<char>>;
    /// Storage of a body larger than this is not kept for the next response.
    static constexpr std::size_t kept_body_capacity = 64 * 1024;

    response_reader() noexcept : header_arena_(header_space_, sizeof header_space_) {}
    response_reader(const response_reader&) = delete;
    response_reader& operator=(const response_reader&) = delete;

    /// Begins a new response (the previous one's headers and body are gone).
    void start(const response_limits& limits) {
        limits_ = limits;
        interim_bytes_ = 0;
        received_ = 0;
        parser_.reset(); // the body's storage is in body_ between responses
        if (body_.capacity() > kept_body_capacity) std::string().swap(body_);
        begin_message();
    }

    /// Parses what `input` holds and consumes it. need_more: append more bytes and call again;
    /// done: a final response is complete, any bytes after it stay in `input`.
    read_progress feed(boost::beast::flat_buffer& input, error_code& ec) {
        ec = {};
        for (;;) {
#if BOOST_VERSION < 108600
            // Beast before Boost 1.86 asserts on a final chunk that comes first and in pieces
            // (boostorg/beast#2861); a chunked message cannot end in fewer than 5 more bytes anyway.
            if (parser_->is_header_done() && parser_->chunked() && input.size() < 5) return read_progress::need_more;
#endif
            std::size_t used = parser_->put(input.data(), ec);
            input.consume(used);
            received_ += used;
            message_bytes_ += used;
            if (ec == boost::beast::http::error::need_more) {
                ec = {};
                // A header block, chunk line or trailer that cannot fit in the buffer.
                if (input.size() >= limits_.max_buffered()) ec = errc::response_too_large;
                else if (over_framing_limit()) ec = errc::response_too_large;
                return read_progress::need_more;
            }
            if (ec) return read_progress::need_more;
            if (over_framing_limit()) {
                ec = errc::response_too_large;
                return read_progress::need_more;
            }
            if (!parser_->is_done()) {
                if (input.size() == 0) return read_progress::need_more;
                continue;
            }
            unsigned status = parser_->get().result_int();
            if (status < 100 || status > 599) { // three digits, but no status HTTP has
                ec = errc::malformed_response;
                return read_progress::need_more;
            }
            if (status >= 200) {
                finish_body();
                return read_progress::done;
            }
            // 101 would switch protocols, which we never ask for; other 1xx are skipped (RFC 9110
            // section 15.2), while their bytes together fit one header block.
            if (status == 101) {
                ec = errc::malformed_response;
                return read_progress::need_more;
            }
            interim_bytes_ += message_bytes_;
            if (interim_bytes_ > limits_.header_bytes) {
                ec = errc::response_too_large;
                return read_progress::need_more;
            }
            begin_message();
            if (input.size() == 0) return read_progress::need_more;
        }
    }

    /// The peer closed the stream: completes a body delimited by the close, else says what was cut.
    read_progress end_of_stream(error_code& ec) {
        ec = {};
        if (received_ == 0) {
            ec = boost::beast::http::error::end_of_stream;
            return read_progress::need_more;
        }
        if (message_bytes_ == 0) { // only interim answers came
            ec = boost::beast::http::error::partial_message;
            return read_progress::need_more;
        }
        parser_->put_eof(ec);
        if (ec) return read_progress::need_more;
        if (!parser_->is_done() || parser_->get().result_int() < 200) {
            ec = boost::beast::http::error::partial_message;
            return read_progress::need_more;
        }
        if (parser_->get().result_int() > 599) { // as feed() says of it
            ec = errc::malformed_response;
            return read_progress::need_more;
        }
        finish_body();
        return read_progress::done;
    }

    /// Whether any byte of a response arrived (a failure after that is not a stale connection).
    bool got_some() const noexcept { return received_ != 0; }
    unsigned status() const noexcept { return parser_->get().result_int(); }
    bool keep_alive() const noexcept { return parser_->get().keep_alive(); }
    std::string_view body() const noexcept { return body_; }
    /// The first field of that name (case-insensitive), or empty.
    std::string_view field(std::string_view name) const {
        const auto& res = parser_->get();
        auto it = res.find(name);
        return it == res.end() ? std::string_view{} : std::string_view(it->value());
    }

private:
    /// A parser for the next message: its header map in the arena, its body in body_'s storage.
    void begin_message() {
        if (parser_) body_.swap(parser_->get().body()); // after an interim answer
        parser_.reset();
        header_arena_.next = header_arena_.begin;
        parser_.emplace(std::piecewise_construct, std::make_tuple(),
                        std::make_tuple(arena_allocator<char>(header_arena_)));
        parser_->eager(true);
        parser_->header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
        parser_->body_limit(limits_.body_bytes);
        body_.clear();
        parser_->get().body().swap(body_);
        message_bytes_ = 0;
    }

    /// Chunk framing is whatever the final message cost beyond its header block and its body.
    bool over_framing_limit() const noexcept {
        std::size_t body = parser_->get().body().size();
        std::size_t other = message_bytes_ > body ? message_bytes_ - body : 0;
        return other > limits_.header_bytes + limits_.framing_bytes;
    }

    /// Takes the body out of the parser; the headers stay readable until the next start().
    void finish_body() { body_.swap(parser_->get().body()); }

    alignas(std::max_align_t) unsigned char header_space_[2048];
    arena header_arena_; ///< the header map's memory, declared before the parser that uses it
    std::optional<parser_type> parser_;
    std::string body_; ///< the finished body; its storage is reused by the next response
    response_limits limits_;
    std::size_t interim_bytes_ = 0; ///< bytes of the interim answers of this exchange
    std::size_t received_ = 0; ///< bytes of this exchange, interim answers included
    std::size_t message_bytes_ = 0; ///< bytes of the current message
};

} // namespace stripe_asio::detail

#endif
