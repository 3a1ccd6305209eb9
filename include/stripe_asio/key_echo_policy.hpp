#ifndef STRIPE_ASIO_KEY_ECHO_POLICY_HPP
#define STRIPE_ASIO_KEY_ECHO_POLICY_HPP

#include <cstdint>

namespace stripe_asio {

/// Whether an answer to a request that sent an `Idempotency-Key` must echo it to be accepted
/// (config::key_echo). Stripe echoes it on every such answer; an answer that echoes another key
/// is refused under every policy. See docs/architecture.md, "An answer is bound to its request".
enum class key_echo_policy : std::uint8_t {
    /// Required once the server has echoed a request's key on any answer to this client, except
    /// on the first answer on a connection opened for the request, which nothing else can have
    /// answered (the default: Stripe, stripe-mock and a proxy that passes headers on all echo).
    learn,
    /// Required from the first answer on.
    required,
    /// Never required: for a proxy that strips the header. Request-Id copies are still refused.
    ignored,
};

} // namespace stripe_asio

#endif
