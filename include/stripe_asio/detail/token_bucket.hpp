// A client-side rate limit: a token bucket that hands out send times. Sans-io: time is an input.
#ifndef STRIPE_ASIO_DETAIL_TOKEN_BUCKET_HPP
#define STRIPE_ASIO_DETAIL_TOKEN_BUCKET_HPP

#include <algorithm>
#include <chrono>
#include <optional>

namespace stripe_asio::detail {

/// `rate` tokens per second, at most `burst` saved up. A caller reserves the next token and
/// waits until its time comes, so bursts queue in arrival order instead of meeting 429s.
class token_bucket {
public:
    using clock = std::chrono::steady_clock;

    token_bucket(double rate_per_second, double burst) noexcept
        : interval_(rate_per_second > 0 ? std::chrono::duration<double>(1.0 / rate_per_second)
                                        : std::chrono::duration<double>(0)),
          burst_(std::max(burst, 1.0)) {}

    bool enabled() const noexcept { return interval_.count() > 0; }

    /// The wait before the caller may send, or nullopt when that would pass `deadline` (then
    /// nothing is reserved).
    std::optional<clock::duration> reserve(clock::time_point now, clock::time_point deadline) noexcept {
        if (!enabled()) return clock::duration::zero();
        auto burst_span = std::chrono::duration_cast<clock::duration>(interval_ * (burst_ - 1));
        // `next_` is when the next token is free; a full bucket lets `burst` go at once.
        auto earliest = std::max(next_, now - burst_span);
        if (earliest > deadline) return std::nullopt;
        next_ = earliest + std::chrono::duration_cast<clock::duration>(interval_);
        return std::max(earliest - now, clock::duration::zero());
    }

private:
    std::chrono::duration<double> interval_;
    double burst_;
    clock::time_point next_{};
};

} // namespace stripe_asio::detail

#endif
