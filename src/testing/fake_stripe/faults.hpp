// Where a login-link call's fault comes from: the test's script first, in order, then a random
// draw (options::random_faults).
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_FAULTS_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_FAULTS_HPP

#include <stripe_asio/testing/fake_stripe.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

namespace stripe_asio::testing::detail {

/// The faults the test scripted, shared between the test thread (which adds) and the server
/// thread (which takes).
class fault_script {
public:
    void append(std::vector<fault> faults);
    void push(fault f);
    /// The next scripted fault, counted as injected; nullopt when the script is done.
    std::optional<fault> take();
    std::uint64_t injected() const { return injected_.load(); }

private:
    std::mutex mutex_;
    std::deque<fault> faults_;
    std::atomic<std::uint64_t> injected_{0};
};

/// Faults drawn at random. The sequence of draws is fixed by the seed; draw() is for one thread
/// at a time, the counts may be read from any.
class random_faults {
public:
    using options = fake_stripe::options::random_fault_options;
    using kind = fake_stripe::random_fault_kind;

    explicit random_faults(options o) : opts_(o), random_(o.seed) {}

    /// With probability `rate`, a fault of a kind drawn uniformly.
    std::optional<fault> draw();
    std::uint64_t injected(kind k) const { return counts_[static_cast<std::size_t>(k)].load(); }
    std::uint64_t injected() const;

private:
    options opts_;
    std::mt19937_64 random_;
    std::atomic<std::uint64_t> counts_[fake_stripe::random_fault_kinds] = {};
};

} // namespace stripe_asio::testing::detail

#endif
