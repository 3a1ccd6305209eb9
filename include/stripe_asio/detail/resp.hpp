// RESP, the Redis protocol, sans-io: commands written as RESP arrays of bulk strings (length-
// prefixed, nothing to get wrong), and replies read by hiredis's reply reader (see
// docs/architecture.md, "The shared rate budget"), turned into a value of our own so no hiredis
// object outlives a read. Bounded: a reply that would need more than `max_buffered` bytes held,
// or that is malformed, is a typed error and the reader is spent (the connection must go).
// Needs hiredis (STRIPE_ASIO_WITH_REDIS).
#ifndef STRIPE_ASIO_DETAIL_RESP_HPP
#define STRIPE_ASIO_DETAIL_RESP_HPP

#include <hiredis/hiredis.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stripe_asio::detail {

/// Appends one command, `*N` then each argument as a bulk string, to `out`.
inline void append_command(std::string& out, std::initializer_list<std::string_view> args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (std::string_view a : args) {
        out += '$';
        out += std::to_string(a.size());
        out += "\r\n";
        out += a;
        out += "\r\n";
    }
}

/// One reply. An array's elements are replies too; `nil` stands for RESP's null bulk and array.
struct resp_value {
    enum class kind { string, status, error, integer, nil, array };
    kind type = kind::nil;
    std::string text; ///< string, status, error
    long long integer = 0;
    std::vector<resp_value> elements;

    bool is_error() const noexcept { return type == kind::error; }
};

class resp_reader {
public:
    explicit resp_reader(std::size_t max_buffered = 64 * 1024)
        : reader_(redisReaderCreate(), &redisReaderFree), max_buffered_(max_buffered) {
        if (!reader_) throw std::bad_alloc();
    }

    /// Takes bytes read from the connection. False: the reader is spent (see error()).
    bool feed(const char* data, std::size_t n) {
        if (!error_.empty()) return false;
        if (buffered() + n > max_buffered_) {
            error_ = "a Redis reply larger than " + std::to_string(max_buffered_) + " bytes";
            return false;
        }
        if (redisReaderFeed(reader_.get(), data, n) != REDIS_OK) {
            error_ = reader_->errstr;
            return false;
        }
        return true;
    }

    /// The next whole reply, if one is in; none when more bytes are needed, or on an error.
    std::optional<resp_value> next() {
        if (!error_.empty()) return std::nullopt;
        void* raw = nullptr;
        if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
            error_ = reader_->err ? reader_->errstr : "malformed Redis reply";
            return std::nullopt;
        }
        if (!raw) return std::nullopt;
        std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(static_cast<redisReply*>(raw), &freeReplyObject);
        return convert(*reply);
    }

    /// Why the reader is spent; empty while it is good.
    const std::string& error() const noexcept { return error_; }
    /// Bytes fed and not yet taken as replies.
    std::size_t buffered() const noexcept { return reader_->len - reader_->pos; }

private:
    static resp_value convert(const redisReply& r) {
        resp_value v;
        switch (r.type) {
        case REDIS_REPLY_STRING: v.type = resp_value::kind::string; break;
        case REDIS_REPLY_STATUS: v.type = resp_value::kind::status; break;
        case REDIS_REPLY_ERROR: v.type = resp_value::kind::error; break;
        case REDIS_REPLY_INTEGER: v.type = resp_value::kind::integer; break;
        case REDIS_REPLY_ARRAY: v.type = resp_value::kind::array; break;
        default: v.type = resp_value::kind::nil; break;
        }
        if (r.str) v.text.assign(r.str, r.len);
        v.integer = r.integer;
        if (r.type == REDIS_REPLY_ARRAY) {
            v.elements.reserve(r.elements);
            for (std::size_t i = 0; i < r.elements; ++i) v.elements.push_back(convert(*r.element[i]));
        }
        return v;
    }

    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader_;
    std::size_t max_buffered_;
    std::string error_;
};

} // namespace stripe_asio::detail

#endif
