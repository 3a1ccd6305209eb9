#ifndef STRIPE_ASIO_REQUEST_OPTIONS_HPP
#define STRIPE_ASIO_REQUEST_OPTIONS_HPP

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace stripe_asio {

/// Per-call settings; every field is optional and the client's `config` fills the rest.
struct request_options {
    /// Sent on every attempt of this call. Empty: a fresh UUIDv4 is made for the call.
    /// 1 to 255 visible ASCII characters.
    std::string idempotency_key;
    /// `Stripe-Account` header: act on behalf of this connected account (acct_...).
    std::string stripe_account;
    /// Fields to expand, sent as expand[0]=...&expand[1]=...
    std::vector<std::string> expand;
    /// Overrides `config::retry.max_retries` for this call.
    std::optional<unsigned> max_retries;
    /// Overrides `config::attempt_timeout` for this call.
    std::optional<std::chrono::milliseconds> attempt_timeout;
    /// Overrides `config::call_timeout` for this call.
    std::optional<std::chrono::milliseconds> call_timeout;
};

} // namespace stripe_asio

#endif
