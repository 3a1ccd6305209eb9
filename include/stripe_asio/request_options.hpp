#ifndef STRIPE_ASIO_REQUEST_OPTIONS_HPP
#define STRIPE_ASIO_REQUEST_OPTIONS_HPP

#include <stripe_asio/fixed_string.hpp>

#include <chrono>
#include <optional>
#include <type_traits>

namespace stripe_asio {

/// Per-call settings; every field is optional and the client's `config` fills the rest.
///
/// Every field is trivially destructible (text is kept inline), so the options are safe to
/// write as a temporary inside a `co_await` expression:
/// `co_await client.create_login_link(id, stripe_asio::request_options{.idempotency_key = "k"})`.
/// g++ 12 destroys the members of such an aggregate temporary twice; with nothing to destroy,
/// that is harmless. Every member has an initializer, so designated initializers may name any
/// subset without -Wmissing-field-initializers.
struct request_options {
    /// Sent on every attempt of this call. Empty: a fresh UUIDv4 is made for the call.
    /// 1 to 255 visible ASCII characters; a longer value is refused, never cut.
    fixed_string<255> idempotency_key{};
    /// `Stripe-Account` header: act on behalf of this connected account (acct_...).
    fixed_string<255> stripe_account{};
    /// Overrides `config::retry.max_retries` for this call.
    std::optional<unsigned> max_retries{};
    /// Overrides `config::attempt_timeout` for this call.
    std::optional<std::chrono::milliseconds> attempt_timeout{};
    /// Overrides `config::call_timeout` for this call.
    std::optional<std::chrono::milliseconds> call_timeout{};
};

static_assert(std::is_trivially_destructible_v<request_options>,
              "request_options must stay safe as a temporary in a co_await expression (g++ 12)");

} // namespace stripe_asio

#endif
