// The pause between a Redis channel's connection attempts, sans-io. It doubles after every
// connection that fails or ends, from `min` to `max`, and goes back to `min` only when a
// connection answered a command: a server that accepts connections and then answers nothing
// (stopped, overloaded, a proxy with nothing behind it) is as broken as one that refuses them,
// and reconnecting to it at the shortest pause would cost every caller a command timeout each
// time.
#ifndef STRIPE_ASIO_DETAIL_RECONNECT_BACKOFF_HPP
#define STRIPE_ASIO_DETAIL_RECONNECT_BACKOFF_HPP

#include <algorithm>
#include <chrono>

namespace stripe_asio::detail {

class reconnect_backoff {
public:
    reconnect_backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) noexcept
        : min_(min), max_(std::max(min, max)), next_(min) {}

    /// A connection answered a command: the server works, and the next failure waits the least.
    void answered() noexcept { next_ = min_; }

    /// A connection failed or ended: the pause before the next attempt (the one after doubles).
    std::chrono::milliseconds pause() noexcept {
        auto now = next_;
        next_ = std::min(next_ * 2, max_);
        return now;
    }

private:
    std::chrono::milliseconds min_, max_, next_;
};

} // namespace stripe_asio::detail

#endif
