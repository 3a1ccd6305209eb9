// Plain callbacks: the handler gets the error code, the diagnostics and the link.
#include "example_server.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main() {
    example_server server;
    boost::asio::io_context ioc;
    stripe_asio::client stripe(ioc, server.config);
    int exit_code = 1;
    stripe.create_login_link("acct_1032D82eZvKYlo2C", [&](stripe_asio::error_code ec, stripe_asio::diagnostics diag,
                                                          stripe_asio::login_link link) {
        if (ec) {
            // Log the request id for support; the diagnostics never hold the API key.
            std::cerr << "login link failed: " << ec.message() << ' ' << diag.to_string() << '\n';
            return;
        }
        std::cout << "redirect to " << link.url << '\n';
        exit_code = 0;
    });
    ioc.run();
    return exit_code;
}
