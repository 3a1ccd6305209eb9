// Why Stripe answered 429: its Stripe-Rate-Limited-Reason header, as a value.
#ifndef STRIPE_ASIO_RATE_LIMIT_REASON_HPP
#define STRIPE_ASIO_RATE_LIMIT_REASON_HPP

#include <cstdint>

namespace stripe_asio {

enum class rate_limit_reason : std::uint8_t {
    none, ///< no header (a lock_timeout, a plain 429, or no 429 at all)
    global_rate,
    endpoint_rate,
    global_concurrency,
    endpoint_concurrency,
    resource_specific,
    other, ///< a value this version does not know
};

/// The header's own text ("global-rate", ...); "" for none.
constexpr const char* name(rate_limit_reason r) noexcept {
    switch (r) {
    case rate_limit_reason::none: return "";
    case rate_limit_reason::global_rate: return "global-rate";
    case rate_limit_reason::endpoint_rate: return "endpoint-rate";
    case rate_limit_reason::global_concurrency: return "global-concurrency";
    case rate_limit_reason::endpoint_concurrency: return "endpoint-concurrency";
    case rate_limit_reason::resource_specific: return "resource-specific";
    case rate_limit_reason::other: return "other";
    }
    return "";
}

} // namespace stripe_asio

#endif
