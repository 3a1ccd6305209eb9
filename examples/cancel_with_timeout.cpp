// Cancellation: race the call against a timer with awaitable operators. The loser is cancelled
// and completes with operation_aborted; the client keeps serving later calls.
#include "example_server.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <iostream>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

asio::awaitable<void> dashboard_with_timeout(stripe_asio::client& stripe, std::chrono::milliseconds limit, int& links) {
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto result = co_await (stripe.create_login_link("acct_1032D82eZvKYlo2C", asio::as_tuple(asio::use_awaitable)) ||
                            timer.async_wait(asio::use_awaitable));
    if (result.index() == 0) {
        auto& [ec, diag, link] = std::get<0>(result);
        if (!ec) {
            std::cout << "redirect to " << link.url << '\n';
            ++links;
        }
    } else {
        std::cout << "gave up after " << limit.count() << " ms; the user sees 'try again'\n";
    }
}

asio::awaitable<void> run(stripe_asio::client& stripe, int& links) {
    co_await dashboard_with_timeout(stripe, 5s, links);
    co_await dashboard_with_timeout(stripe, 0ms, links); // cancelled at once
    co_await dashboard_with_timeout(stripe, 5s, links); // the client still serves
}

int main() {
    example_server server;
    asio::io_context ioc;
    stripe_asio::client stripe(ioc.get_executor(), server.config);
    int links = 0;
    asio::co_spawn(ioc, run(stripe, links), asio::detached);
    ioc.run();
    return links == 2 ? 0 : 1;
}
