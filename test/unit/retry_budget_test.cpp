#include <doctest/doctest.h>

#include <stripe_asio/detail/retry_budget.hpp>

using stripe_asio::detail::retry_budget;

TEST_SUITE("unit") {

TEST_CASE("retry_budget: failures spend, successes earn back a fraction, retries only above half") {
    retry_budget b(10, 0.1);
    CHECK(b.allows_retry());
    for (int i = 0; i < 4; ++i) b.on_failure();
    CHECK(b.allows_retry()); // 6 left
    b.on_failure();
    CHECK_FALSE(b.allows_retry()); // 5: not more than half
    for (int i = 0; i < 100; ++i) b.on_failure();
    CHECK(b.tokens() == 0); // never below zero, so recovery takes a bounded number of successes
    for (int i = 0; i < 51; ++i) b.on_success();
    CHECK(b.allows_retry());
    for (int i = 0; i < 1000; ++i) b.on_success();
    CHECK(b.tokens() == 10); // never above the maximum
}

TEST_CASE("retry_budget: zero tokens means no budget") {
    retry_budget off(0, 0.1);
    CHECK_FALSE(off.enabled());
    for (int i = 0; i < 100; ++i) off.on_failure();
    CHECK(off.allows_retry());
}

} // TEST_SUITE("unit")
