// Runs an io_context until a condition holds, for at most a bound: for tests whose io_context
// never runs out of work (a client with a shared budget keeps its connections to Redis).
#ifndef STRIPE_ASIO_TEST_SUPPORT_RUN_UNTIL_HPP
#define STRIPE_ASIO_TEST_SUPPORT_RUN_UNTIL_HPP

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace test {

/// Runs `io` until `done()`, for at most `limit`; whether `done()` held at the end.
template <class Done>
bool run_until(boost::asio::io_context& io, Done done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
        io.restart();
        io.run_one_for(std::chrono::milliseconds(10));
    }
    return done();
}

} // namespace test

#endif
