// A Redis of the test's own: a loopback TCP server on the test's io_context that reads each
// command (a RESP array of bulk strings, read with the library's own RESP reader) and answers
// what the test says: any bytes, nothing at all, or its answer and then a closed connection.
// For the answers a real redis-server never gives (grants past the question's bounds, a
// connection that flaps, a server that accepts and never answers).
#ifndef STRIPE_ASIO_TEST_SUPPORT_SCRIPTED_REDIS_HPP
#define STRIPE_ASIO_TEST_SUPPORT_SCRIPTED_REDIS_HPP

#include <stripe_asio/detail/resp.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace test {

class scripted_redis {
public:
    /// One command as read: its words, and the number of the connection it came on (0: the first).
    struct command {
        std::vector<std::string> args;
        std::size_t connection = 0;
    };
    /// What the server does with a command: these bytes, then perhaps close the connection.
    struct reply {
        std::string bytes;
        bool close_after = false;
    };
    /// Called for each command; nothing: no answer, ever.
    std::function<std::optional<reply>(const command&)> answer;

    explicit scripted_redis(boost::asio::io_context& io) : state_(std::make_shared<state>(io)) {
        state_->owner = this;
        accept(state_);
    }
    ~scripted_redis() {
        state_->owner = nullptr;
        boost::system::error_code ignored;
        state_->acceptor.close(ignored);
        for (auto& s : state_->sockets) s->close(ignored);
    }
    scripted_redis(const scripted_redis&) = delete;
    scripted_redis& operator=(const scripted_redis&) = delete;

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(state_->acceptor.local_endpoint().port()); }
    std::size_t connections() const noexcept { return state_->sockets.size(); }
    std::size_t commands() const noexcept { return state_->commands; }

    /// An answer to the shared budget's script: granted or not, after `wait_us`.
    static std::string reservation(bool granted, long long wait_us) {
        return "*2\r\n:" + std::string(granted ? "1" : "0") + "\r\n:" + std::to_string(wait_us) + "\r\n";
    }
    /// The longest wait an EVALSHA question allows (its last argument), in microseconds.
    static long long max_wait_of(const command& c) { return std::stoll(c.args.back()); }

private:
    using tcp = boost::asio::ip::tcp;
    struct state {
        explicit state(boost::asio::io_context& io) : acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0}) {}
        tcp::acceptor acceptor;
        std::vector<std::shared_ptr<tcp::socket>> sockets;
        std::size_t commands = 0;
        scripted_redis* owner = nullptr;
    };
    struct connection {
        std::shared_ptr<tcp::socket> socket;
        std::size_t number = 0;
        stripe_asio::detail::resp_reader reader;
        std::array<char, 4096> in{};
    };

    static void accept(std::shared_ptr<state> s) {
        s->acceptor.async_accept([s](boost::system::error_code ec, tcp::socket socket) {
            if (ec || !s->owner) return;
            auto c = std::make_shared<connection>();
            c->socket = std::make_shared<tcp::socket>(std::move(socket));
            c->number = s->sockets.size();
            s->sockets.push_back(c->socket);
            read(s, c);
            accept(s);
        });
    }

    static void read(std::shared_ptr<state> s, std::shared_ptr<connection> c) {
        c->socket->async_read_some(boost::asio::buffer(c->in), [s, c](boost::system::error_code ec, std::size_t n) {
            if (ec || !s->owner || !c->reader.feed(c->in.data(), n)) return;
            std::string out; // this read's answers go in one write
            bool close_after = false;
            while (auto v = c->reader.next()) {
                command cmd{{}, c->number};
                for (auto& e : v->elements) cmd.args.push_back(e.text);
                ++s->commands;
                std::optional<reply> r = s->owner->answer ? s->owner->answer(cmd) : std::nullopt;
                if (!r) continue;
                out += r->bytes;
                if ((close_after = r->close_after)) break; // nothing more is read on it
            }
            if (!out.empty() || close_after) {
                auto bytes = std::make_shared<std::string>(std::move(out));
                boost::asio::async_write(*c->socket, boost::asio::buffer(*bytes),
                                         [c, bytes, close_after](boost::system::error_code, std::size_t) {
                                             boost::system::error_code ignored;
                                             if (close_after) c->socket->close(ignored);
                                         });
                if (close_after) return;
            }
            read(s, c);
        });
    }

    std::shared_ptr<state> state_;
};

} // namespace test

#endif
