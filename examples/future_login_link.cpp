// From a thread that is not Asio's: the io_context runs on its own thread and a std::future
// brings the link back. with_diagnostics makes the future throw error_with_diagnostics.
#include "example_server.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <iostream>
#include <thread>

int main() {
    example_server server;
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    std::thread io_thread([&] { ioc.run(); });
    int exit_code = 1;
    {
        stripe_asio::client stripe(ioc, server.config);
        std::future<stripe_asio::login_link> link =
            stripe.create_login_link("acct_1032D82eZvKYlo2C", stripe_asio::with_diagnostics(boost::asio::use_future));
        try {
            std::cout << "redirect to " << link.get().url << '\n';
            exit_code = 0;
        } catch (const stripe_asio::error_with_diagnostics& e) {
            std::cerr << "login link failed: " << e.what() << '\n';
        }
    }
    work.reset();
    io_thread.join();
    return exit_code;
}
