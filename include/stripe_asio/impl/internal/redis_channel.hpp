// One pipelined connection to a Redis server, on Asio: commands queue and go out together in one
// write, replies come back in order through the RESP reader (detail/resp.hpp). It connects (name
// lookup, TCP, then AUTH and SELECT as the URL asks), and after any failure (a refused
// connection, a lost one, an answer later than the command timeout) it fails every command in
// flight, waits a backoff that doubles from reconnect_min to reconnect_max, and connects again,
// until closed. A command sent while it is not connected fails at once: the caller decides what
// to do without Redis (the shared budget falls back to a local share). Every handler runs on the
// channel's executor, never inside send(). Needs hiredis (STRIPE_ASIO_WITH_REDIS). Engine-only.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_REDIS_CHANNEL_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_REDIS_CHANNEL_HPP

#include <stripe_asio/detail/resp.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

/// Where a Redis server is, from redis://[[user]:password@]host[:port][/db].
struct redis_endpoint {
    std::string host;
    std::string port = "6379";
    std::string user; ///< empty: AUTH with the password alone (Redis before 6)
    std::string password; ///< empty: no AUTH
    int db = 0;
};

/// Parses a redis:// URL; nullopt, with the reason in `why`, for anything else. rediss:// (TLS)
/// is refused for now, by name.
inline std::optional<redis_endpoint> parse_redis_url(std::string_view url, std::string& why) {
    if (url.starts_with("rediss://")) {
        why = "rediss:// (Redis over TLS) is not supported yet";
        return std::nullopt;
    }
    if (!url.starts_with("redis://")) {
        why = "a Redis URL starts with redis://";
        return std::nullopt;
    }
    url.remove_prefix(8);
    redis_endpoint ep;
    std::string_view path;
    if (auto slash = url.find('/'); slash != std::string_view::npos) {
        path = url.substr(slash + 1);
        url = url.substr(0, slash);
    }
    if (auto at = url.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = url.substr(0, at);
        url.remove_prefix(at + 1);
        auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            ep.password = std::string(userinfo); // redis://password@host, as some clients take it
        } else {
            ep.user = std::string(userinfo.substr(0, colon));
            ep.password = std::string(userinfo.substr(colon + 1));
        }
    }
    std::string_view host = url, port;
    if (!url.empty() && url.front() == '[') {
        auto close = url.find(']');
        if (close == std::string_view::npos) {
            why = "the Redis URL has an unclosed IPv6 bracket";
            return std::nullopt;
        }
        host = url.substr(1, close - 1);
        if (close + 1 < url.size()) {
            if (url[close + 1] != ':') {
                why = "the Redis URL has junk after the IPv6 address";
                return std::nullopt;
            }
            port = url.substr(close + 2);
        }
    } else if (auto colon = url.find(':'); colon != std::string_view::npos) {
        host = url.substr(0, colon);
        port = url.substr(colon + 1);
    }
    if (host.empty()) {
        why = "the Redis URL has no host";
        return std::nullopt;
    }
    ep.host = std::string(host);
    auto digits = [](std::string_view s) {
        return !s.empty() && s.size() <= 5 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!port.empty()) {
        if (!digits(port) || std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
            why = "the Redis URL's port must be 1 to 65535";
            return std::nullopt;
        }
        ep.port = std::string(port);
    }
    if (!path.empty()) {
        if (!digits(path) || std::stoi(std::string(path)) > 15999) {
            why = "the Redis URL's database must be a number";
            return std::nullopt;
        }
        ep.db = std::stoi(std::string(path));
    }
    return ep;
}

struct redis_timeouts {
    std::chrono::milliseconds connect{1000}; ///< lookup, connect, AUTH and SELECT
    std::chrono::milliseconds command{250}; ///< from a command's write to its reply
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
    std::size_t max_queued = 10'000; ///< commands waiting for replies; past it, send() fails at once
};

class redis_channel : public std::enable_shared_from_this<redis_channel> {
public:
    using reply_handler = std::function<void(boost::system::error_code, resp_value)>;
    using clock = std::chrono::steady_clock;

    struct counters {
        std::uint64_t connects = 0, failures = 0, writes = 0, commands = 0, replies = 0;
    };

    redis_channel(boost::asio::any_io_executor ex, redis_endpoint ep, redis_timeouts t)
        : ex_(std::move(ex)), ep_(std::move(ep)), t_(t), socket_(ex_), deadline_(ex_), pause_(ex_) {}

    /// Connects, and keeps connecting after failures, until close(). Call once.
    void start() { boost::asio::co_spawn(ex_, run(shared_from_this()), boost::asio::detached); }

    bool ready() const noexcept { return ready_; }
    const counters& stats() const noexcept { return counters_; }

    /// Queues `command` (one or more RESP commands, each answered by one reply: `replies`).
    /// Its handler gets the last reply, or an error: not_connected (now), no_buffer_space (the
    /// queue is full), timed_out or the connection's own error (the connection failed), or
    /// operation_aborted (closed).
    void send(std::string command, reply_handler handler, std::size_t replies = 1) {
        namespace error = boost::asio::error;
        if (!ready_ || closed_)
            return complete(std::move(handler), closed_ ? error::operation_aborted : error::not_connected);
        if (queue_.size() >= t_.max_queued) return complete(std::move(handler), error::no_buffer_space);
        queue_.push_back(pending{std::move(command), std::move(handler), replies, {}, false});
        ++counters_.commands;
        write_queued();
    }

    /// Fails what is in flight with operation_aborted and stops; later sends fail too.
    void close() {
        closed_ = true;
        fail_all(boost::asio::error::operation_aborted);
        shut_socket();
        pause_.cancel();
    }

private:
    struct pending {
        std::string bytes;
        reply_handler handler;
        std::size_t replies; ///< replies still to come; the last one is the handler's
        clock::time_point deadline; ///< set once written
        bool written;
    };

    void complete(reply_handler h, boost::system::error_code ec, resp_value v = {}) {
        boost::asio::post(ex_, [h = std::move(h), ec, v = std::move(v)]() mutable { h(ec, std::move(v)); });
    }

    void fail_all(boost::system::error_code ec) {
        ready_ = false;
        while (!queue_.empty()) {
            complete(std::move(queue_.front().handler), ec);
            queue_.pop_front();
        }
        out_.clear();
    }

    void shut_socket() {
        boost::system::error_code ignored;
        socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
        deadline_.cancel();
    }

    /// The connection failed: everything in flight fails with `ec`; run() reconnects. A write
    /// or timer of this connection still to complete finds the generation moved on.
    void fail_connection(boost::system::error_code ec) {
        ++generation_;
        writing_ = false;
        deadline_armed_ = false;
        if (ready_ || !queue_.empty()) ++counters_.failures;
        fail_all(ec);
        shut_socket();
    }

    /// Writes every command not yet written, in one write, unless a write is under way.
    void write_queued() {
        if (writing_ || !ready_) return;
        out_.clear();
        auto expires = clock::now() + t_.command;
        for (pending& p : queue_) {
            if (p.written) continue;
            out_ += p.bytes;
            p.written = true;
            p.deadline = expires;
        }
        if (out_.empty()) return;
        writing_ = true;
        ++counters_.writes;
        arm_deadline();
        boost::asio::async_write(
            socket_, boost::asio::buffer(out_),
            [self = shared_from_this(), gen = generation_](boost::system::error_code ec, std::size_t) {
                if (gen != self->generation_) return; // that connection is gone
                self->writing_ = false;
                if (ec) return self->fail_connection(ec);
                self->write_queued();
            });
    }

    /// One timer for the oldest command written: its reply must come by its deadline.
    void arm_deadline() {
        auto oldest = std::find_if(queue_.begin(), queue_.end(), [](const pending& p) { return p.written; });
        if (oldest == queue_.end() || deadline_armed_) return;
        deadline_armed_ = true;
        deadline_.expires_at(oldest->deadline);
        deadline_.async_wait([self = shared_from_this(), gen = generation_](boost::system::error_code) {
            if (gen != self->generation_) return;
            self->deadline_armed_ = false;
            if (self->queue_.empty() || !self->queue_.front().written) return;
            if (self->queue_.front().deadline <= clock::now())
                return self->fail_connection(boost::asio::error::timed_out);
            self->arm_deadline();
        });
    }

    void on_reply(resp_value v) {
        ++counters_.replies;
        if (queue_.empty() || !queue_.front().written) return fail_connection(boost::asio::error::invalid_argument);
        pending& p = queue_.front();
        if (--p.replies > 0) return;
        reply_handler h = std::move(p.handler);
        queue_.pop_front();
        complete(std::move(h), {}, std::move(v));
        if (!queue_.empty() && queue_.front().written) {
            deadline_.cancel(); // re-armed for the next oldest by its handler
        }
    }

    /// Lookup, connect, AUTH, SELECT, within the connect timeout.
    boost::asio::awaitable<boost::system::error_code> connect() {
        using namespace boost::asio::experimental::awaitable_operators;
        namespace asio = boost::asio;
        auto use_tuple = asio::as_tuple(asio::use_awaitable);
        asio::steady_timer limit(ex_, t_.connect);
        asio::ip::tcp::resolver resolver(ex_);
        auto opening = [&]() -> asio::awaitable<boost::system::error_code> {
            auto [rec, endpoints] = co_await resolver.async_resolve(ep_.host, ep_.port, use_tuple);
            if (rec) co_return rec;
            auto [cec, ignored] = co_await asio::async_connect(socket_, endpoints, use_tuple);
            if (cec) co_return cec;
            socket_.set_option(asio::ip::tcp::no_delay(true), cec);
            std::string hello;
            std::size_t expected = 0;
            if (!ep_.password.empty()) {
                if (ep_.user.empty()) append_command(hello, {"AUTH", ep_.password});
                else append_command(hello, {"AUTH", ep_.user, ep_.password});
                ++expected;
            }
            if (ep_.db != 0) {
                append_command(hello, {"SELECT", std::to_string(ep_.db)});
                ++expected;
            }
            if (expected == 0) co_return boost::system::error_code{};
            auto [wec, wn] = co_await asio::async_write(socket_, asio::buffer(hello), use_tuple);
            if (wec) co_return wec;
            while (expected > 0) {
                auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_), use_tuple);
                if (ec) co_return ec;
                if (!reader_.feed(in_.data(), n)) co_return asio::error::invalid_argument;
                while (auto v = reader_.next()) {
                    if (v->is_error()) {
                        last_error_ = v->text.substr(0, 200); // Redis's words, never the password
                        co_return boost::system::errc::make_error_code(boost::system::errc::permission_denied);
                    }
                    --expected;
                }
                if (!reader_.error().empty()) co_return asio::error::invalid_argument;
            }
            co_return boost::system::error_code{};
        };
        auto first = co_await (opening() || limit.async_wait(use_tuple));
        if (first.index() == 1) {
            shut_socket();
            co_return asio::error::timed_out;
        }
        co_return std::get<0>(first);
    }

    static boost::asio::awaitable<void> run(std::shared_ptr<redis_channel> self) {
        namespace asio = boost::asio;
        auto backoff = self->t_.reconnect_min;
        while (!self->closed_) {
            self->reader_ = resp_reader();
            boost::system::error_code ec = co_await self->connect();
            if (!ec && !self->closed_) {
                ++self->counters_.connects;
                backoff = self->t_.reconnect_min;
                self->ready_ = true;
                self->write_queued();
                co_await self->read_replies();
            }
            self->fail_connection(ec ? ec : asio::error::connection_reset);
            if (self->closed_) break;
            self->pause_.expires_after(backoff);
            co_await self->pause_.async_wait(asio::as_tuple(asio::use_awaitable));
            backoff = std::min(backoff * 2, self->t_.reconnect_max);
        }
    }

    boost::asio::awaitable<void> read_replies() {
        namespace asio = boost::asio;
        while (ready_) {
            auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_), asio::as_tuple(asio::use_awaitable));
            if (ec || !ready_) co_return;
            if (!reader_.feed(in_.data(), n)) co_return;
            while (auto v = reader_.next()) {
                on_reply(std::move(*v));
                if (!ready_) co_return;
            }
            if (!reader_.error().empty()) co_return;
        }
    }

    boost::asio::any_io_executor ex_;
    redis_endpoint ep_;
    redis_timeouts t_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer deadline_;
    boost::asio::steady_timer pause_;
    resp_reader reader_;
    std::array<char, 16 * 1024> in_{};
    std::deque<pending> queue_;
    std::string out_;
    counters counters_;
    std::string last_error_;
    std::uint64_t generation_ = 0; ///< moves on with every failed connection
    bool ready_ = false, writing_ = false, closed_ = false, deadline_armed_ = false;

public:
    /// What Redis said when AUTH or SELECT failed (never holds the password).
    const std::string& last_error() const noexcept { return last_error_; }
};

} // namespace stripe_asio::detail

#endif
