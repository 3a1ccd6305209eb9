// Shared by the integration tests: a fake Stripe over real TLS on loopback, a client configured
// for it, and a way to run one coroutine to completion on the test's own io_context.
#ifndef STRIPE_ASIO_TEST_FIXTURE_HPP
#define STRIPE_ASIO_TEST_FIXTURE_HPP

#include <stripe_asio/stripe_asio.hpp>
#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <optional>
#include <string>
#include <tuple>

// Checks that a call succeeded, with its diagnostics as the failure message. doctest builds a
// message inside a lambda, and clang 14 cannot capture a structured binding (`auto [ec, diag,
// link]`) there, so the message is made outside first.
#define STRIPE_ASIO_CHECK_OUTCOME(assertion, ec, diag)                                                                 \
    do {                                                                                                               \
        const bool call_failed = static_cast<bool>(ec);                                                                \
        const std::string call_failure = call_failed ? (diag).to_string() : std::string();                             \
        assertion(!call_failed, call_failure);                                                                         \
    } while (false)
#define CHECK_SUCCEEDED(ec, diag) STRIPE_ASIO_CHECK_OUTCOME(CHECK_MESSAGE, ec, diag)
#define REQUIRE_SUCCEEDED(ec, diag) STRIPE_ASIO_CHECK_OUTCOME(REQUIRE_MESSAGE, ec, diag)

namespace test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using stripe_asio::testing::fake_stripe;
using stripe_asio::testing::fault;

inline stripe_asio::config config_for(const fake_stripe& server) {
    stripe_asio::config cfg;
    cfg.api_key = server.api_key();
    cfg.base_url = server.base_url();
    cfg.ca_pem = server.ca_pem();
    // Short backoff so retry tests stay quick; the policy itself is unit-tested with defaults.
    cfg.retry.initial_delay = 5ms;
    cfg.retry.max_delay = 20ms;
    cfg.attempt_timeout = 10s;
    // The rate budgets are tested where they are the subject; elsewhere they would only slow
    // the tests to a test key's 25 requests a second.
    cfg.rate_budget.enabled = false;
    return cfg;
}

/// Runs `a` on `ioc` until it and everything it started are done; rethrows its exception.
template <class T>
T run(asio::io_context& ioc, asio::awaitable<T> a) {
    std::optional<T> result;
    std::exception_ptr error;
    asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T value) {
        error = e;
        if (!e) result.emplace(std::move(value));
    });
    ioc.restart();
    ioc.run();
    if (error) std::rethrow_exception(error);
    REQUIRE(result.has_value());
    return std::move(*result);
}

inline void run(asio::io_context& ioc, asio::awaitable<void> a) {
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e) {
        error = e;
        done = true;
    });
    ioc.restart();
    ioc.run();
    if (error) std::rethrow_exception(error);
    REQUIRE(done);
}

using call_result = std::tuple<stripe_asio::error_code, stripe_asio::diagnostics, stripe_asio::login_link>;

/// One login-link call, errors as values.
inline call_result make_link(asio::io_context& ioc, stripe_asio::client& client,
                             std::string account = "acct_1032D82eZvKYlo2C", stripe_asio::request_options options = {}) {
    return run(
        ioc, [](stripe_asio::client& c, std::string a, stripe_asio::request_options o) -> asio::awaitable<call_result> {
            co_return co_await c.create_login_link(a, std::move(o), asio::as_tuple(asio::use_awaitable));
        }(client, std::move(account), std::move(options)));
}

} // namespace test

#endif
