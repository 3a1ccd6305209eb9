// The fake Stripe server's running part (fake_stripe::impl): one io_context on its own thread,
// one coroutine per connection, the rules (rules.hpp) deciding each answer.
//
// Everything that touches sockets runs on the server thread. The test thread only reads atomics,
// takes locks for the fault script, the recorded requests and the idempotency store, posts to
// the server thread for stop() and close_idle_connections(), and waits on `settle_cv` in
// wait_until_settled().
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_SERVER_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_SERVER_HPP

#include "rules.hpp"
#include "text.hpp"

#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace stripe_asio::testing {

struct fake_stripe::impl {
    struct connection; // server.cpp

    explicit impl(options o) : opts(std::move(o)) {}

    // ---- configuration, immutable once the thread runs
    options opts;
    std::string ca_pem;
    std::string ca_file;
    std::string base_url;
    unsigned short port = 0;

    // ---- shared with the test thread
    std::optional<detail::rules> stripe; // made by start(), once the port is known
    mutable std::mutex recorded_mutex;
    std::vector<received_request> recorded;

    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::size_t> open{0};
    std::atomic<std::size_t> waiting_now{0}; // open connections idle between requests
    std::atomic<std::size_t> closing_at_idle{0}; // marked by close_idle(), not yet gone
    std::atomic<std::size_t> peak{0};
    std::atomic<std::uint64_t> hangs_expired{0};

    // wait_until_settled(): the server thread notifies only while someone waits.
    mutable std::mutex settle_mutex;
    mutable std::condition_variable settle_cv;
    mutable std::atomic<int> settle_watchers{0};

    // ---- server thread only
    std::unordered_set<connection*> connections;
    detail::alnum_source request_ids;
    bool stopping = false;

    // Declared after everything the coroutines touch: destroying the io_context destroys any
    // coroutine frame still pending, and their cleanup must find these members alive.
    boost::asio::ssl::context ssl{boost::asio::ssl::context::tls_server};
    boost::asio::io_context ioc{1};
    boost::asio::ip::tcp::acceptor acceptor{ioc};

    std::mutex lifecycle; // serialises stop() and close_idle_connections()
    bool stopped = false;
    std::thread thread;

    void start();
    void shutdown();
    void close_idle();

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> run_connection(std::shared_ptr<connection> self);
    boost::asio::awaitable<void> converse(const std::shared_ptr<connection>& self);
    boost::asio::awaitable<bool> answer(const std::shared_ptr<connection>& self);
    boost::asio::awaitable<void> hang(const std::shared_ptr<connection>& self, std::chrono::milliseconds hang_for);
    boost::asio::awaitable<bool> send(connection& c);
    boost::asio::awaitable<void> wait_to_write(connection& c);
    boost::asio::awaitable<void> send_stray_later(std::shared_ptr<connection> self, std::string stray,
                                                  std::chrono::milliseconds after);
    void write_unasked_answer(std::string& out);
    boost::asio::awaitable<bool> send_oversized(connection& c, const detail::request& req, const detail::reply& r);

    void settle_changed();
    void arm_idle(const std::shared_ptr<connection>& c);
    void disarm_idle(connection& c);

    void write_head(connection& c, const detail::request& req, const detail::reply& r, std::size_t length);
    void record(const connection& c, const detail::request& req, unsigned status, bool replayed);
};

} // namespace stripe_asio::testing

#endif
