// The engine's clock set by hand (impl/internal/engine_clock.hpp), for a test's lifetime: no
// timer of the engine fires until the test moves the time past it. settle() runs everything
// that is ready now, timers due now included, and returns when nothing is left to run: no
// sleep, and no real time passes for the engine.
#ifndef STRIPE_ASIO_TEST_SUPPORT_MANUAL_TIME_HPP
#define STRIPE_ASIO_TEST_SUPPORT_MANUAL_TIME_HPP

#include <stripe_asio/impl/internal/engine_clock.hpp>

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <chrono>

namespace test {

class manual_time {
public:
    explicit manual_time(boost::asio::io_context& io) : io_(io) {
        ticks().store(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    ~manual_time() { ticks().store(0); }
    manual_time(const manual_time&) = delete;
    manual_time& operator=(const manual_time&) = delete;

    stripe_asio::detail::engine_clock::time_point now() const { return stripe_asio::detail::engine_clock::now(); }

    /// Moves the time on by `d`, then settles.
    void advance(std::chrono::nanoseconds d) {
        ticks().fetch_add(std::chrono::duration_cast<stripe_asio::detail::engine_clock::duration>(d).count());
        settle();
    }

    /// Runs what is ready until nothing is. A timer of ours due now is what wakes the reactor
    /// when the time was moved: its firing collects every other timer due by then.
    void settle() {
        for (int round = 0; round < 1000; ++round) {
            io_.restart();
            std::size_t ran = io_.poll();
            bool kicked = false;
            stripe_asio::detail::engine_timer kick(io_);
            kick.expires_at(now());
            kick.async_wait([&](const boost::system::error_code&) { kicked = true; });
            while (!kicked) {
                io_.restart(); // poll() stops the io_context when it runs out of work
                ran += io_.run_one();
            }
            io_.restart();
            ran += io_.poll();
            if (ran <= 1) return; // only the kick ran
        }
        FAIL("the engine never settled: it keeps running handlers with no time passing");
    }

private:
    static std::atomic<stripe_asio::detail::engine_clock::rep>& ticks() {
        return stripe_asio::detail::engine_clock::manual_ticks();
    }
    boost::asio::io_context& io_;
};

} // namespace test

#endif
