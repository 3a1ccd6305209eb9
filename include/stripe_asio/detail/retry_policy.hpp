// Whether to try a call again, and how long to wait first. Sans-io: no sockets, no clock.
#ifndef STRIPE_ASIO_DETAIL_RETRY_POLICY_HPP
#define STRIPE_ASIO_DETAIL_RETRY_POLICY_HPP

#include <stripe_asio/retry_config.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

namespace stripe_asio::detail {

/// How one attempt ended, as far as the retry rules care.
struct attempt_outcome {
    bool got_response = false; ///< a complete HTTP response was read
    unsigned status = 0;
    std::optional<bool> should_retry; ///< the Stripe-Should-Retry header, when present
    bool lock_timeout = false; ///< error.code == "lock_timeout"
    bool certificate_failure = false; ///< no response because the peer did not verify
    bool caller_cancelled = false;
    bool response_unusable = false; ///< a response came but cannot be used (too large, not HTTP)
};

/// The SDK rules, in their order. Says nothing about the retry budget.
constexpr bool is_retryable(const attempt_outcome& o) noexcept {
    if (o.caller_cancelled) return false;
    if (!o.got_response) return !o.certificate_failure && !o.response_unusable;
    if (o.should_retry) return *o.should_retry;
    if (o.status == 409) return true;
    if (o.status == 429) return o.lock_timeout;
    return o.status >= 500;
}

/// Backoff before retry number `retry` (1 for the first retry); jitter in [0.5, 1).
inline std::chrono::milliseconds backoff_delay(unsigned retry, const retry_config& cfg, double jitter) {
    using ms = std::chrono::milliseconds;
    double initial = double(cfg.initial_delay.count());
    double cap = double(std::max(cfg.max_delay, cfg.initial_delay).count());
    double base = initial;
    for (unsigned i = 1; i < retry && base < cap; ++i) base *= 2;
    base = std::min(base, cap);
    jitter = std::clamp(jitter, 0.5, 1.0);
    return ms(static_cast<ms::rep>(std::max(base * jitter, initial)));
}

/// A small, seedable generator for jitter (not for secrets: keys use the TLS library's CSPRNG).
class jitter_source {
public:
    explicit jitter_source(std::uint64_t seed) noexcept : state_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
    /// Uniform in [0.5, 1).
    double next() noexcept {
        // xorshift64*: plenty for spreading retries apart.
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        std::uint64_t r = state_ * 0x2545F4914F6CDD1Dull;
        return 0.5 + 0.5 * double(r >> 11) / double(std::uint64_t(1) << 53);
    }

private:
    std::uint64_t state_;
};

/// One call's retry bookkeeping: the budget, the stale-connection allowance, the delays.
class retry_state {
public:
    /// `cfg` is kept by reference (the client's, which outlives its calls): a call waiting in
    /// the queue carries a pointer, not a copy.
    retry_state(const retry_config& cfg, unsigned max_retries) noexcept : cfg_(&cfg), max_retries_(max_retries) {}
    retry_state(retry_config&&, unsigned) = delete;
    /// No rules yet: given them (by assignment) before the first decision.
    retry_state() noexcept = default;

    /// A reused connection failed before any response byte: resend once on a fresh connection,
    /// outside the retry budget, when the config allows it.
    bool take_stale_resend() noexcept {
        if (!cfg_->retry_stale_connection || stale_resend_used_) return false;
        stale_resend_used_ = true;
        return true;
    }
    /// Whether the outcome is retryable with retries left (take_retry would take one).
    bool would_retry(const attempt_outcome& o) const noexcept { return is_retryable(o) && retries_ < max_retries_; }
    /// Consumes one retry when the outcome is retryable and retries are left.
    bool take_retry(const attempt_outcome& o) noexcept {
        if (!would_retry(o)) return false;
        ++retries_;
        return true;
    }
    unsigned retries() const noexcept { return retries_; }
    std::chrono::milliseconds next_delay(double jitter) const { return backoff_delay(retries_, *cfg_, jitter); }

private:
    const retry_config* cfg_ = nullptr;
    unsigned max_retries_ = 0;
    unsigned retries_ = 0;
    bool stale_resend_used_ = false;
};

} // namespace stripe_asio::detail

#endif
