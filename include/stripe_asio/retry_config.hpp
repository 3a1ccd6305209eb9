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
};

} // namespace stripe_asio

#endif
