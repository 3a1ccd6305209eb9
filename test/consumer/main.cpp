// A user's program against the installed package: one login link from the fake server.
#include <stripe_asio/stripe_asio.hpp>
#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main() {
    stripe_asio::testing::fake_stripe server;
    stripe_asio::config cfg;
    cfg.api_key = server.api_key();
    cfg.base_url = server.base_url();
    cfg.ca_pem = server.ca_pem();
    boost::asio::io_context ioc;
    stripe_asio::client client(ioc, cfg);
    int status = 1;
    client.create_login_link(
        "acct_1032D82eZvKYlo2C", stripe_asio::request_options{},
        [&](stripe_asio::error_code ec, stripe_asio::diagnostics diag, stripe_asio::login_link link) {
            if (ec) {
                std::cerr << "consumer: " << stripe_asio::error_kind(ec) << ' ' << diag.to_string() << '\n';
                return;
            }
            std::cout << "consumer: made a link of " << link.url.size() << " characters\n";
            status = 0;
        });
    ioc.run();
    return status;
}
