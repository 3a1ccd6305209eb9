// Stripe-shaped rate limits for the fake server, with no I/O: the account's requests per second
// and each endpoint's, checked on arrival. A request over either is answered 429 rate_limit with
// Stripe-Rate-Limited-Reason (global-rate or endpoint-rate) and counts against neither. Each
// limit is a GCRA cell: a request at t fits when t >= tat - tolerance, and moves tat on by one
// interval. With `sliding_window`, each limit instead admits a request only while fewer than
// floor(rate) were admitted in the second up to and including its arrival. Counts of admitted
// requests (and of refused ones) per whole second since start let a test check that no second
// saw more than the limit allows.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_RATE_LIMITS_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_RATE_LIMITS_HPP

#include <stripe_asio/testing/fake_stripe.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace stripe_asio::testing::detail {

class rate_limits {
public:
    using clock = std::chrono::steady_clock;

    rate_limits(fake_stripe::options::rate_limit_options opts, clock::time_point start);

    bool enabled() const noexcept { return opts_.account_per_second > 0 || opts_.endpoint_per_second > 0; }

    /// The reason a request to `endpoint` (its templated name) at `now` is refused, or empty.
    std::string_view admit(std::string_view endpoint, clock::time_point now);

    /// Requests admitted in each whole second since start (index 0: the first second).
    std::vector<std::uint64_t> admitted_per_second() const;
    /// Requests refused (429) in each whole second since start.
    std::vector<std::uint64_t> refused_per_second() const;
    std::uint64_t refused() const;

private:
    struct cell {
        clock::time_point tat{};
        std::deque<clock::time_point> admitted; ///< sliding window: the last second's admissions
    };
    bool fits(cell& c, double per_second, clock::time_point now) const;
    void take(cell& c, double per_second, clock::time_point now) const;

    fake_stripe::options::rate_limit_options opts_;
    clock::time_point start_;
    cell account_;
    std::map<std::string, cell, std::less<>> endpoints_; ///< bounded: see admit()
    mutable std::mutex stats_mutex_; ///< the counts are read from the test's thread
    std::vector<std::uint64_t> per_second_;
    std::vector<std::uint64_t> refused_per_second_;
    std::uint64_t refused_ = 0;
};

} // namespace stripe_asio::testing::detail

#endif
