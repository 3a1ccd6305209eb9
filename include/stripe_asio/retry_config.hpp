#ifndef STRIPE_ASIO_RETRY_CONFIG_HPP
#define STRIPE_ASIO_RETRY_CONFIG_HPP

#include <chrono>

namespace stripe_asio {

/// Network retries, as the official Stripe SDKs do them (see docs/errors-and-retries.md).
struct retry_config {
    /// Retries after the first attempt; 0 disables them. Default 2, as every official SDK.
    unsigned max_retries = 2;
    /// Backoff before retry n: min(initial_delay * 2^(n-1), max_delay) * jitter, jitter in
    /// [0.5, 1), never below initial_delay.
    std::chrono::milliseconds initial_delay{500};
    std::chrono::milliseconds max_delay{5000};
    /// Resend once on a fresh connection when a reused keep-alive connection turns out to have
    /// been closed by the server before any response byte arrived, even with max_retries = 0.
    /// Such a request never reached Stripe's application. false: 0 retries means 0.
    bool retry_stale_connection = true;
    /// The client-wide retry budget (gRPC's retry throttling): every failed attempt that a retry
    /// could mend spends a token, every success earns `budget_token_ratio` of one back, and
    /// retries go only while more than half of `budget_max_tokens` are left. With the defaults,
    /// when nearly every answer fails, calls soon cost about one request each instead of three.
    /// budget_max_tokens = 0 turns the budget off.
    double budget_max_tokens = 10;
    double budget_token_ratio = 0.1;
};

} // namespace stripe_asio

#endif
