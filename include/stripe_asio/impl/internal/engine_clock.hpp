// The engine's clock and timers. Real (steady) time, unless a test has set the time by hand:
// then the engine's every "now" and every timer of its own follow that time, and nothing moves
// until the test moves it. Time points are std::chrono::steady_clock's, so the sans-io parts
// (the call machine, the pool, the limiter) take them unchanged. Engine-only.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_ENGINE_CLOCK_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_ENGINE_CLOCK_HPP

#include <boost/asio/basic_waitable_timer.hpp>

#include <atomic>
#include <chrono>

namespace stripe_asio::detail {

struct engine_clock {
    using duration = std::chrono::steady_clock::duration;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr bool is_steady = true;

    static time_point now() noexcept {
        rep manual = manual_ticks().load(std::memory_order_relaxed);
        return manual != 0 ? time_point(duration(manual)) : std::chrono::steady_clock::now();
    }

    /// The time set by hand, in ticks since the steady clock's epoch; 0: real time. One for the
    /// process: a test sets it while no other client runs (see test/support/manual_time.hpp).
    static std::atomic<rep>& manual_ticks() noexcept {
        static std::atomic<rep> ticks{0};
        return ticks;
    }
};

using clock_type = engine_clock;
/// Every wait of the engine: the calls' timers, the attempt timeout, the upkeep.
using engine_timer = boost::asio::basic_waitable_timer<engine_clock>;

} // namespace stripe_asio::detail

#endif
