// reconnect_backoff: the pause between a Redis channel's connection attempts, step by step.
#include <doctest/doctest.h>

#include <stripe_asio/detail/reconnect_backoff.hpp>

#include <chrono>

using namespace std::chrono_literals;
using stripe_asio::detail::reconnect_backoff;

TEST_SUITE("unit") {

TEST_CASE("reconnect backoff: it doubles after every connection that ends, answered or not, up to the most") {
    reconnect_backoff b(100ms, 1000ms);
    CHECK(b.pause() == 100ms); // refused
    CHECK(b.pause() == 200ms); // connected, then its commands timed out: no better
    CHECK(b.pause() == 400ms);
    CHECK(b.pause() == 800ms);
    CHECK(b.pause() == 1000ms);
    CHECK(b.pause() == 1000ms);
}

TEST_CASE("reconnect backoff: only a connection that answered starts it again from the least") {
    reconnect_backoff b(100ms, 1000ms);
    CHECK(b.pause() == 100ms);
    CHECK(b.pause() == 200ms);
    b.answered();
    CHECK(b.pause() == 100ms); // it answered, then was lost
    CHECK(b.pause() == 200ms);
}

TEST_CASE("reconnect backoff: a most below the least is the least") {
    reconnect_backoff b(100ms, 50ms);
    CHECK(b.pause() == 100ms);
    CHECK(b.pause() == 100ms);
}

} // TEST_SUITE("unit")
