// A peer in memory for the engine's stream seam (impl/internal/byte_stream.hpp): a client given
// this stream source opens no socket. The test sees every request the client writes, whole and
// parsed, and answers it (or not) through `respond`, or later by hand; it can refuse or hold
// openings and close a connection from the peer's side. Every completion is posted to the
// call's executor, never run inside the operation, as Asio's would be.
#ifndef STRIPE_ASIO_TEST_SUPPORT_SCRIPTED_PEER_HPP
#define STRIPE_ASIO_TEST_SUPPORT_SCRIPTED_PEER_HPP

#include <stripe_asio/impl/internal/call_steps.hpp>
#include <stripe_asio/impl/internal/byte_stream.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace test {

/// One request as the peer read it.
struct seen_request {
    std::size_t stream = 0; ///< which of the peer's streams it came on (0: the first made)
    boost::beast::http::request<boost::beast::http::string_body> message;

    std::string header(std::string_view name) const {
        auto it = message.find(boost::beast::string_view(name.data(), name.size()));
        return it == message.end() ? std::string() : std::string(it->value());
    }
};

/// What the peer does with a request: bytes to send back, then perhaps close its side.
struct peer_reply {
    std::string bytes;
    bool close_after = false;
};

/// An HTTP/1.1 answer, echoing the request's Idempotency-Key as Stripe does.
inline std::string http_answer(const seen_request& req, unsigned status, std::string_view body,
                               std::string_view extra_headers = {}) {
    std::string key = req.header("Idempotency-Key");
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "Request-Id: req_" + std::to_string(req.stream) + "\r\n";
    if (!key.empty()) out += "Idempotency-Key: " + key + "\r\n";
    out += extra_headers;
    out += "\r\n";
    out += body;
    return out;
}

inline std::string login_link_body(std::string_view account) {
    return R"({"object":"login_link","created":1495580507,"url":"https://connect.stripe.com/express/)" +
           std::string(account) + R"(/test"})";
}

class scripted_peer final : public stripe_asio::detail::stream_source {
    struct stream_state;

public:
    /// Called for each whole request; nothing: no answer (the test may answer later, or never).
    std::function<std::optional<peer_reply>(const seen_request&)> respond;
    std::size_t refuse_opens = 0; ///< the next this many openings fail with connection_refused
    bool hold_opens = false; ///< openings wait until cancelled
    std::vector<seen_request> requests; ///< every request, in the order written

    std::size_t streams_made() const noexcept { return streams_.size(); }
    std::size_t streams_opened() const noexcept {
        std::size_t n = 0;
        for (auto& s : streams_) n += s->opened;
        return n;
    }

    /// Sends `bytes` on stream `i`, as if the server wrote them now.
    void send(std::size_t i, std::string_view bytes) {
        streams_.at(i)->inbound.append(bytes);
        streams_.at(i)->serve_read();
    }
    /// Closes stream `i` from the peer's side: reads find the end of the stream.
    void close(std::size_t i) {
        streams_.at(i)->peer_closed = true;
        streams_.at(i)->serve_read();
    }

    std::unique_ptr<stripe_asio::detail::byte_stream> make_stream(const boost::asio::any_io_executor& ex) override {
        auto state = std::make_shared<stream_state>();
        state->index = streams_.size();
        streams_.push_back(state);
        return std::make_unique<stream>(*this, ex, std::move(state));
    }

private:
    using call_step = stripe_asio::detail::call_step;
    using error_code = boost::system::error_code;

    static void complete(call_step&& step, error_code ec, std::size_t n) {
        auto ex = step.get_executor();
        boost::asio::post(ex, [step = std::move(step), ec, n]() mutable { step(ec, n); });
    }

    struct stream_state {
        std::size_t index = 0;
        bool opened = false, peer_closed = false, broken = false;
        std::string inbound; ///< bytes for the client, not read yet
        std::string written; ///< bytes from the client, not yet a whole request
        std::optional<call_step> pending_read;
        boost::asio::mutable_buffer read_into;

        void serve_read() {
            if (!pending_read) return;
            if (broken) {
                fail_read(boost::asio::error::operation_aborted);
            } else if (!inbound.empty()) {
                std::size_t n = std::min(inbound.size(), read_into.size());
                std::memcpy(read_into.data(), inbound.data(), n);
                inbound.erase(0, n);
                auto step = std::move(*pending_read);
                pending_read.reset();
                complete(std::move(step), {}, n);
            } else if (peer_closed) {
                fail_read(boost::asio::error::eof);
            }
        }
        void fail_read(error_code ec) {
            auto step = std::move(*pending_read);
            pending_read.reset();
            complete(std::move(step), ec, 0);
        }
    };

    /// Takes the whole requests out of what stream `s` was written, and answers them.
    void take_requests(stream_state& s) {
        namespace http = boost::beast::http;
        while (!s.written.empty()) {
            http::request_parser<http::string_body> parser;
            parser.eager(true);
            error_code ec;
            std::size_t used = parser.put(boost::asio::buffer(s.written), ec);
            if (ec == http::error::need_more || !parser.is_done()) return;
            REQUIRE_MESSAGE(!ec, "the client wrote something that is not HTTP: " << ec.message());
            s.written.erase(0, used);
            requests.push_back(seen_request{s.index, parser.release()});
            if (!respond) continue;
            if (auto reply = respond(requests.back())) {
                s.inbound += reply->bytes;
                if (reply->close_after) s.peer_closed = true;
            }
        }
    }

    class stream final : public stripe_asio::detail::byte_stream {
    public:
        stream(scripted_peer& peer, const boost::asio::any_io_executor& ex, std::shared_ptr<stream_state> s)
            : peer_(peer), ex_(ex), s_(std::move(s)) {}

        boost::asio::awaitable<error_code> open(stripe_asio::detail::client_impl& c, std::string& detail) override {
            co_await boost::asio::this_coro::throw_if_cancelled(false);
            if (auto injected = c.fault(stripe_asio::detail::io_point::connect)) {
                detail = "connecting: " + injected.message();
                co_return injected;
            }
            if (peer_.refuse_opens > 0) {
                --peer_.refuse_opens;
                detail = "connecting: refused by the scripted peer";
                co_return boost::asio::error::connection_refused;
            }
            if (peer_.hold_opens) {
                stripe_asio::detail::engine_timer never(ex_, stripe_asio::detail::clock_type::time_point::max());
                co_await never.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
                co_return boost::asio::error::operation_aborted;
            }
            s_->opened = true;
            co_return error_code{};
        }

        void async_write(boost::asio::const_buffer bytes, call_step&& next) override {
            if (s_->broken) return complete(std::move(next), boost::asio::error::operation_aborted, 0);
            s_->written.append(static_cast<const char*>(bytes.data()), bytes.size());
            peer_.take_requests(*s_);
            complete(std::move(next), {}, bytes.size());
        }

        void async_read_some(boost::asio::mutable_buffer into, call_step&& next) override {
            REQUIRE_MESSAGE(!s_->pending_read, "two reads at once on one stream");
            s_->pending_read.emplace(std::move(next));
            s_->read_into = into;
            s_->serve_read();
        }

        bool nothing_buffered() noexcept override { return true; }
        bool quiet() noexcept override { return s_->opened && !s_->broken && !s_->peer_closed && s_->inbound.empty(); }

        void cancel_io() noexcept override {
            s_->broken = true;
            s_->serve_read();
        }
        void close() noexcept override { cancel_io(); }

    private:
        scripted_peer& peer_;
        boost::asio::any_io_executor ex_;
        std::shared_ptr<stream_state> s_;
    };

    std::vector<std::shared_ptr<stream_state>> streams_;
};

} // namespace test

#endif
