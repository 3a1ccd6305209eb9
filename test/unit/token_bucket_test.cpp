// The client-side rate limiter's arithmetic, with time as an input.
#include <stripe_asio/detail/token_bucket.hpp>

#include <doctest/doctest.h>

using stripe_asio::detail::token_bucket;
using namespace std::chrono_literals;

TEST_SUITE("unit") {

TEST_CASE("token bucket: disabled at rate 0") {
    token_bucket b(0, 1);
    CHECK_FALSE(b.enabled());
    auto now = token_bucket::clock::now();
    for (int i = 0; i < 5; ++i) CHECK(b.reserve(now, now) == token_bucket::clock::duration::zero());
}

TEST_CASE("token bucket: reservations are spaced by 1/rate, in order") {
    token_bucket b(100, 1); // one every 10 ms
    auto now = token_bucket::clock::time_point{} + 1h;
    auto far = now + 1h;
    CHECK(b.reserve(now, far) == 0ms);
    CHECK(b.reserve(now, far) == 10ms);
    CHECK(b.reserve(now, far) == 20ms);
    // Time passes: the queue drains.
    CHECK(b.reserve(now + 30ms, far) == 0ms);
    CHECK(b.reserve(now + 30ms, far) == 10ms);
}

TEST_CASE("token bucket: a burst goes at once after an idle period") {
    token_bucket b(10, 3); // one every 100 ms, three saved up
    auto now = token_bucket::clock::time_point{} + 1h;
    auto far = now + 1h;
    CHECK(b.reserve(now, far) == 0ms);
    CHECK(b.reserve(now, far) == 0ms);
    CHECK(b.reserve(now, far) == 0ms);
    CHECK(b.reserve(now, far) == 100ms);
}

TEST_CASE("token bucket: a reservation past the deadline is refused and takes nothing") {
    token_bucket b(100, 1);
    auto now = token_bucket::clock::time_point{} + 1h;
    CHECK(b.reserve(now, now + 1h) == 0ms);
    CHECK(b.reserve(now, now + 5ms) == std::nullopt); // would be at +10 ms
    CHECK(b.reserve(now, now + 1h) == 10ms); // the refused one left no gap
}

} // TEST_SUITE("unit")
