// Asio's own tokens instead of the library's default with_diagnostics(deferred):
//  - use_awaitable: `co_await` yields (diagnostics, login_link) and throws a plain
//    boost::system::system_error on failure (the diagnostics of a failure are lost);
//  - as_tuple(use_awaitable): never throws; `co_await` yields (error_code, diagnostics, login_link),
//    so the error path is ordinary control flow, with everything Stripe said.
#include "example_server.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <iostream>

namespace asio = boost::asio;

// Named tokens and arguments: g++ 12 mishandles class temporaries inside a co_await expression.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<bool> run(stripe_asio::client& stripe) {
    const std::string account = "acct_1032D82eZvKYlo2C", bad_account = "acct_with-a-dash";
    bool ok = true;

    // 1. use_awaitable: success returns a tuple of the non-error arguments.
    auto [diag, link] = co_await stripe.create_login_link(account, asio::use_awaitable);
    std::cout << "use_awaitable: redirect to " << link.url << " (request " << link.meta.request_id << ")\n";

    // ... and failure throws system_error, carrying the error code only.
    try {
        co_await stripe.create_login_link(bad_account, asio::use_awaitable);
        ok = false;
    } catch (const boost::system::system_error& e) {
        std::cout << "use_awaitable: threw " << stripe_asio::error_kind(e.code()) << '\n';
        ok = ok && e.code() == stripe_asio::errc::invalid_account_id;
    }

    // 2. as_tuple(use_awaitable): no exceptions; test the error code.
    auto [ec, diag2, link2] = co_await stripe.create_login_link(account, use_tuple);
    if (ec) {
        std::cerr << "login link failed: " << stripe_asio::error_kind(ec) << ' ' << diag2.to_string() << '\n';
        co_return false;
    }
    std::cout << "as_tuple: redirect to " << link2.url << '\n';
    ok = ok && link2.url != link.url; // every call makes a new single-use link

    auto [bad_ec, bad_diag, no_link] = co_await stripe.create_login_link(bad_account, use_tuple);
    std::cout << "as_tuple: " << stripe_asio::error_kind(bad_ec) << " (" << bad_diag.detail << ")\n";
    co_return ok&& bad_ec == stripe_asio::errc::invalid_account_id&& no_link.url.empty();
}

int main() {
    example_server server;
    asio::io_context ioc;
    stripe_asio::client stripe(ioc, server.config);
    int exit_code = 1;
    asio::co_spawn(ioc, run(stripe), [&](std::exception_ptr e, bool ok) {
        if (e) std::rethrow_exception(e); // out of ioc.run(): the example fails loudly
        exit_code = ok ? 0 : 1;
    });
    ioc.run();
    return exit_code;
}
