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

/// hiredis parses; the values are built here, by its object callbacks, so the reader can refuse
/// an array that announces more elements than it may hold before anything is allocated for it
/// (hiredis 0.14's own objects take any count a server names).
class resp_reader {
public:
    explicit resp_reader(std::size_t max_buffered = 64 * 1024, std::size_t max_values = 4096)
        : limits_(std::make_unique<limits>()), max_buffered_(max_buffered),
          reader_(redisReaderCreateWithFunctions(&functions()), &redisReaderFree) {
        if (!reader_) throw std::bad_alloc();
        limits_->max_values = max_values;
        reader_->privdata = limits_.get(); // on the heap: stays put when the reader moves
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
            error_ = limits_->over ? "a Redis reply of more than " + std::to_string(limits_->max_values) + " values"
                                   : std::string(reader_->err ? reader_->errstr : "malformed Redis reply");
            return std::nullopt;
        }
        if (!raw) return std::nullopt;
        auto* root = static_cast<resp_value*>(raw); // limits_->root
        limits_->values = 0;
        std::optional<resp_value> out(std::move(*root));
        *root = resp_value{};
        return out;
    }

    /// Why the reader is spent; empty while it is good.
    const std::string& error() const noexcept { return error_; }
    /// Bytes fed and not yet taken as replies.
    std::size_t buffered() const noexcept { return reader_->len - reader_->pos; }

private:
    struct limits {
        resp_value root; ///< the reply being read: a slot of its own, not an allocation per reply
        std::size_t max_values = 0;
        std::size_t values = 0; ///< in the reply being read
        bool over = false;
    };

    /// Puts `v` where the task says: into its parent array (whose room was reserved, so the
    /// element stays put while its own children arrive), or in the root's slot.
    /// Null (hiredis then fails the read) past the limit or out of memory: never an exception
    /// through C.
    static void* place(const redisReadTask* task, resp_value&& v) noexcept {
        auto* l = static_cast<limits*>(task->privdata);
        if (++l->values > l->max_values) {
            l->over = true;
            return nullptr;
        }
        try {
            if (task->parent) {
                auto* parent = static_cast<resp_value*>(task->parent->obj);
                if (parent->elements.size() >= parent->elements.capacity()) return nullptr;
                parent->elements.push_back(std::move(v));
                return &parent->elements.back();
            }
            l->root = std::move(v);
            return &l->root;
        } catch (...) {
            return nullptr;
        }
    }

    static redisReplyObjectFunctions& functions() { // hiredis takes it non-const; never written
        static redisReplyObjectFunctions fns{
            [](const redisReadTask* task, char* str, std::size_t len) -> void* {
                resp_value v;
                v.type = task->type == REDIS_REPLY_ERROR    ? resp_value::kind::error
                         : task->type == REDIS_REPLY_STATUS ? resp_value::kind::status
                                                            : resp_value::kind::string;
                try {
                    v.text.assign(str, len);
                } catch (...) {
                    return nullptr;
                }
                return place(task, std::move(v));
            },
            [](const redisReadTask* task, int elements) -> void* {
                auto* l = static_cast<limits*>(task->privdata);
                if (elements < 0 || std::size_t(elements) > l->max_values) {
                    l->over = true;
                    return nullptr;
                }
                resp_value v;
                v.type = resp_value::kind::array;
                try {
                    v.elements.reserve(std::size_t(elements));
                } catch (...) {
                    return nullptr;
                }
                return place(task, std::move(v));
            },
            [](const redisReadTask* task, long long value) -> void* {
                resp_value v;
                v.type = resp_value::kind::integer;
                v.integer = value;
                return place(task, std::move(v));
            },
            [](const redisReadTask* task) -> void* { return place(task, resp_value{}); },
            // Only a reply's root is handed back to be freed (its elements are its own): emptied.
            [](void* root) { *static_cast<resp_value*>(root) = resp_value{}; },
        };
        return fns;
    }

    std::unique_ptr<limits> limits_;
    std::size_t max_buffered_;
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader_;
    std::string error_;
};

} // namespace stripe_asio::detail

#endif
