// One pipelined connection to a Redis server, on Asio: commands queue and go out together in one
// write, replies come back in order through the RESP reader (detail/resp.hpp). It connects (name
// lookup, TCP, TLS for rediss://, then AUTH and SELECT as the URL asks), and after any failure (a refused
// connection, a lost one, an answer later than the command timeout) it fails every command in
// flight, waits a backoff that doubles from reconnect_min to reconnect_max, and connects again,
// until closed; only a connection that answered a command starts the backoff again from
// reconnect_min (detail/reconnect_backoff.hpp). A command sent while it is not connected fails
// at once: the caller decides what to do without Redis (the shared budget falls back to a local
// share). The one exception is the first connection attempt: commands sent before it ends wait
// for it, and go out once it is made (or fail with its error), so a client just made asks Redis
// rather than falling back. Every handler runs on the channel's executor, never inside send() or
// close(): a reply's handler is called as the reply is read (no hop through the executor's
// queue), a failure's is posted. Needs hiredis (STRIPE_ASIO_WITH_REDIS). Engine-only.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_REDIS_CHANNEL_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_REDIS_CHANNEL_HPP

#include <stripe_asio/detail/redis_url.hpp>
#include <stripe_asio/detail/block_cache.hpp>
#include <stripe_asio/detail/reconnect_backoff.hpp>
#include <stripe_asio/detail/redis_reply_handler.hpp>
#include <stripe_asio/detail/resp.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

struct redis_timeouts {
    std::chrono::milliseconds connect{1000}; ///< lookup, connect, AUTH and SELECT
    std::chrono::milliseconds command{250}; ///< from a command's write to its reply
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
    std::size_t max_queued = 10'000; ///< commands waiting for replies; past it, send() fails at once
};

class redis_channel : public std::enable_shared_from_this<redis_channel> {
public:
    using reply_handler = redis_reply_handler;
    using clock = std::chrono::steady_clock;

    struct counters {
        std::uint64_t connects = 0, failures = 0, writes = 0, commands = 0, replies = 0;
    };

    /// `tls`: the context a rediss:// endpoint is verified with (unused for redis://).
    /// `up_gauge`: counts this channel while it is connected. `owner`: kept alive as long as
    /// the channel is (the executor's or the gauge's owner, when they would not outlive it).
    redis_channel(boost::asio::any_io_executor ex, redis_endpoint ep, redis_timeouts t,
                  std::shared_ptr<boost::asio::ssl::context> tls = nullptr,
                  std::atomic<std::uint64_t>* up_gauge = nullptr, std::shared_ptr<void> owner = nullptr)
        : owner_(std::move(owner)), ex_(std::move(ex)), ep_(std::move(ep)), t_(t), tls_context_(std::move(tls)),
          up_gauge_(up_gauge), deadline_(ex_), pause_(ex_), reading_over_(ex_),
          backoff_(t_.reconnect_min, t_.reconnect_max) {}

    /// Connects, and keeps connecting after failures, until close(). Call once.
    void start() { boost::asio::co_spawn(ex_, run(shared_from_this()), boost::asio::detached); }

    bool ready() const noexcept { return ready_; }
    /// Its first connection attempt is still under way (bounded by the connect timeout):
    /// send() queues commands for it.
    bool starting() const noexcept { return starting_ && !closed_; }
    const counters& stats() const noexcept { return counters_; }

    /// Queues `command` (one or more RESP commands, each answered by one reply: `replies`).
    /// Its handler gets the last reply, or an error: not_connected (now), no_buffer_space (the
    /// queue is full), timed_out or the connection's own error (the connection failed), or
    /// operation_aborted (closed).
    void send(std::string_view command, reply_handler handler, std::size_t replies = 1) {
        namespace error = boost::asio::error;
        if ((!ready_ && !starting_) || closed_)
            return complete(std::move(handler), closed_ ? error::operation_aborted : error::not_connected);
        if (queue_.size() >= t_.max_queued) return complete(std::move(handler), error::no_buffer_space);
        queue_.push_back(pending{std::move(handler), replies, {}, false});
        staged_ += command; // the bytes wait in one buffer, reused: no allocation per command
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
    /// One connection's socket and, for rediss://, its TLS stream over it. Made anew for each
    /// connection and held by every operation on it, so an operation of a failed connection
    /// that completes late never finds its stream gone.
    struct link {
        explicit link(const boost::asio::any_io_executor& ex) : socket(ex) {}
        boost::asio::ip::tcp::socket socket;
        std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;

        template <class Token>
        auto async_write(boost::asio::const_buffer bytes, Token&& token) {
            if (tls) return boost::asio::async_write(*tls, bytes, std::forward<Token>(token));
            return boost::asio::async_write(socket, bytes, std::forward<Token>(token));
        }
        template <class Token>
        auto async_read_some(boost::asio::mutable_buffer into, Token&& token) {
            if (tls) return tls->async_read_some(into, std::forward<Token>(token));
            return socket.async_read_some(into, std::forward<Token>(token));
        }
    };

    struct pending {
        reply_handler handler;
        std::size_t replies; ///< replies still to come; the last one is the handler's
        clock::time_point deadline; ///< set once written
        bool written;
    };

    void complete(reply_handler h, boost::system::error_code ec, resp_value v = {}) {
        boost::asio::post(ex_, [h = std::move(h), ec, v = std::move(v)]() mutable { h(ec, std::move(v)); });
    }

    void set_ready(bool ready) noexcept {
        if (ready == ready_) return;
        ready_ = ready;
        if (up_gauge_) up_gauge_->fetch_add(ready ? 1 : std::uint64_t(-1), std::memory_order_relaxed);
    }

    void fail_all(boost::system::error_code ec) {
        set_ready(false);
        written_ = 0;
        while (!queue_.empty()) {
            complete(std::move(queue_.front().handler), ec);
            queue_.pop_front();
        }
        out_.clear();
        staged_.clear();
    }

    void shut_socket() {
        deadline_.cancel();
        if (!link_) return;
        boost::system::error_code ignored;
        link_->socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        link_->socket.close(ignored);
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
        if (writing_ || !ready_ || staged_.empty()) return;
        out_.clear();
        out_.swap(staged_); // both keep their room for the next writes
        auto expires = clock::now() + t_.command;
        // The written ones are the queue's front: start after them.
        for (auto it = queue_.begin() + static_cast<std::ptrdiff_t>(written_); it != queue_.end(); ++it) {
            it->written = true;
            it->deadline = expires;
        }
        written_ = queue_.size();
        writing_ = true;
        ++counters_.writes;
        arm_deadline();
        link_->async_write(boost::asio::buffer(out_),
                           boost::asio::bind_allocator(cached_allocator<void>{},
                                                       [self = shared_from_this(), held = link_,
                                                        gen = generation_](boost::system::error_code ec, std::size_t) {
                                                           if (gen != self->generation_)
                                                               return; // that connection is gone
                                                           self->writing_ = false;
                                                           if (ec) return self->fail_connection(ec);
                                                           self->write_queued();
                                                       }));
    }

    /// One timer for the oldest command written: its reply must come by its deadline.
    void arm_deadline() {
        auto oldest = std::find_if(queue_.begin(), queue_.end(), [](const pending& p) { return p.written; });
        if (oldest == queue_.end() || deadline_armed_) return;
        deadline_armed_ = true;
        deadline_.expires_at(oldest->deadline);
        deadline_.async_wait(boost::asio::bind_allocator(
            cached_allocator<void>{}, [self = shared_from_this(), gen = generation_](boost::system::error_code) {
                if (gen != self->generation_) return;
                self->deadline_armed_ = false;
                if (self->queue_.empty() || !self->queue_.front().written) return;
                if (self->queue_.front().deadline <= clock::now())
                    return self->fail_connection(boost::asio::error::timed_out);
                self->arm_deadline();
            }));
    }

    void on_reply(resp_value v) {
        ++counters_.replies;
        if (queue_.empty() || !queue_.front().written) return fail_connection(boost::asio::error::invalid_argument);
        backoff_.answered();
        pending& p = queue_.front();
        if (--p.replies > 0) return;
        reply_handler h = std::move(p.handler);
        queue_.pop_front();
        --written_;
        if (!queue_.empty() && queue_.front().written) {
            deadline_.cancel(); // re-armed for the next oldest by its handler
        }
        h({}, std::move(v)); // last: it may send, or close the channel
    }

    /// Lookup, connect, TLS, AUTH, SELECT, within the connect timeout.
    boost::asio::awaitable<boost::system::error_code> connect() {
        using namespace boost::asio::experimental::awaitable_operators;
        namespace asio = boost::asio;
        auto use_tuple = asio::as_tuple(asio::use_awaitable);
        asio::steady_timer limit(ex_, t_.connect);
        asio::ip::tcp::resolver resolver(ex_);
        auto held = link_ = std::make_shared<link>(ex_);
        auto opening = [&]() -> asio::awaitable<boost::system::error_code> {
            auto [rec, endpoints] = co_await resolver.async_resolve(ep_.host, ep_.port, use_tuple);
            if (rec) co_return rec;
            if (closed_) co_return asio::error::operation_aborted; // closed during the lookup
            auto [cec, ignored] = co_await asio::async_connect(held->socket, endpoints, use_tuple);
            if (cec) co_return cec;
            held->socket.set_option(asio::ip::tcp::no_delay(true), cec);
            if (closed_) co_return asio::error::operation_aborted;
            if (ep_.tls) {
                if (!tls_context_) co_return asio::error::no_protocol_option;
                held->tls.emplace(held->socket, *tls_context_);
                SSL* ssl = held->tls->native_handle();
                boost::system::error_code not_ip;
                asio::ip::make_address(ep_.host, not_ip);
                if (not_ip) SSL_set_tlsext_host_name(ssl, ep_.host.c_str());
                held->tls->set_verify_mode(asio::ssl::verify_peer);
                held->tls->set_verify_callback(asio::ssl::host_name_verification(ep_.host));
                auto [hec] = co_await held->tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
                if (hec) {
                    last_error_ = "TLS handshake: " + hec.message();
                    co_return hec;
                }
            }
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
            auto [wec, wn] = co_await held->async_write(asio::buffer(hello), use_tuple);
            if (wec) co_return wec;
            while (expected > 0) {
                auto [ec, n] = co_await held->async_read_some(asio::buffer(in_), use_tuple);
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
        while (!self->closed_) {
            self->reader_ = resp_reader();
            boost::system::error_code ec = co_await self->connect();
            self->starting_ = false; // what waited for it goes out now, or fails below
            if (!ec && !self->closed_) {
                ++self->counters_.connects;
                self->set_ready(true);
                self->write_queued();
                // Replies are read by plain completions (below), which cost no allocation; this
                // waits until they end, with the connection.
                self->reading_over_.expires_at(clock::time_point::max());
                self->read_replies(self->link_);
                co_await self->reading_over_.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            self->fail_connection(ec ? ec : asio::error::connection_reset);
            if (self->closed_) break;
            self->pause_.expires_after(self->backoff_.pause());
            co_await self->pause_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    /// Reads replies until the connection fails or the channel closes, then ends run()'s wait.
    void read_replies(std::shared_ptr<link> held) {
        held->async_read_some(boost::asio::buffer(in_),
                              boost::asio::bind_allocator(cached_allocator<void>{},
                                                          [self = shared_from_this(),
                                                           held](boost::system::error_code ec, std::size_t n) mutable {
                                                              if (self->take_read(ec, n))
                                                                  return self->read_replies(std::move(held));
                                                              self->reading_over_.cancel();
                                                          }));
    }

    /// What a read brought, as replies: whether to read on.
    bool take_read(boost::system::error_code ec, std::size_t n) {
        if (ec || !ready_ || !reader_.feed(in_.data(), n)) return false;
        while (auto v = reader_.next()) {
            on_reply(std::move(*v));
            if (!ready_) return false;
        }
        return reader_.error().empty();
    }

    std::shared_ptr<void> owner_; ///< first: the last to go
    boost::asio::any_io_executor ex_;
    redis_endpoint ep_;
    redis_timeouts t_;
    std::shared_ptr<boost::asio::ssl::context> tls_context_;
    std::atomic<std::uint64_t>* up_gauge_;
    std::shared_ptr<link> link_; ///< the connection now (or the last one)
    boost::asio::steady_timer deadline_;
    boost::asio::steady_timer pause_;
    boost::asio::steady_timer reading_over_; ///< run() waits on it while replies are read
    resp_reader reader_;
    std::array<char, 16 * 1024> in_{};
    std::deque<pending> queue_;
    std::string out_; ///< the bytes of the write in progress
    std::string staged_; ///< the bytes of the commands not yet written
    counters counters_;
    reconnect_backoff backoff_; ///< answered() by a reply; a connection's end takes a pause()
    std::string last_error_;
    std::uint64_t generation_ = 0; ///< moves on with every failed connection
    std::size_t written_ = 0; ///< commands at the queue's front already written
    bool ready_ = false, writing_ = false, closed_ = false, deadline_armed_ = false;
    bool starting_ = true; ///< until the first connection attempt ends

public:
    /// What Redis said when AUTH or SELECT failed (never holds the password).
    const std::string& last_error() const noexcept { return last_error_; }
};

} // namespace stripe_asio::detail

#endif
