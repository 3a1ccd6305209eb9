#ifndef STRIPE_ASIO_VERSION_HPP
#define STRIPE_ASIO_VERSION_HPP

#define STRIPE_ASIO_VERSION_STRING "0.1.0"

namespace stripe_asio {

/// The library's version, sent to Stripe in User-Agent and X-Stripe-Client-User-Agent.
inline constexpr const char* version = STRIPE_ASIO_VERSION_STRING;

/// The API version this release is written and tested against; `config::stripe_version` overrides.
inline constexpr const char* default_stripe_version = "2026-10-28.endive";

} // namespace stripe_asio

#endif
