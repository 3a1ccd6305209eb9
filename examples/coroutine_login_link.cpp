// The heart of the library: co_await a login link. Errors throw error_with_diagnostics.
#include "example_server.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <iostream>

namespace asio = boost::asio;

asio::awaitable<void> open_dashboard(stripe_asio::client& stripe, int& exit_code) {
    try {
        stripe_asio::login_link link = co_await stripe.create_login_link("acct_1032D82eZvKYlo2C");
        // A real server answers the user's click with a 302 to link.url; never store the link.
        std::cout << "redirect to " << link.url << " (request " << link.meta.request_id << ")\n";

        // Bad input fails before anything is sent, with a typed error.
        co_await stripe.create_login_link("not-an-account");
    } catch (const stripe_asio::error_with_diagnostics& e) {
        std::cout << "refused: " << stripe_asio::error_kind(e.code()) << '\n';
        exit_code = e.code() == stripe_asio::errc::invalid_account_id ? 0 : 1;
    }
}

int main() {
    example_server server;
    asio::io_context ioc;
    stripe_asio::client stripe(ioc.get_executor(), server.config);
    int exit_code = 1;
    asio::co_spawn(ioc, open_dashboard(stripe, exit_code), asio::detached);
    ioc.run();
    return exit_code;
}
