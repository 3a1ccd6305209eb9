#ifndef STRIPE_ASIO_RESPONSE_METADATA_HPP
#define STRIPE_ASIO_RESPONSE_METADATA_HPP

#include <stripe_asio/fixed_string.hpp>

namespace stripe_asio {

/// What a successful call learned besides its result, kept inline: no heap allocation, and a
/// key is at most 255 characters (longer ones are refused before anything is sent).
struct response_metadata {
    fixed_string<64> request_id; ///< the `Request-Id` header (req_...)
    fixed_string<255> idempotency_key; ///< the key sent on every attempt (empty for GET)
    unsigned http_status = 0;
    unsigned attempts = 0; ///< attempts made, 1 when the first one succeeded
    bool idempotent_replayed = false; ///< `Idempotent-Replayed: true`: Stripe replayed an earlier answer
    bool stale_connection_retried = false; ///< a reused connection had been closed; resent on a fresh one
};

} // namespace stripe_asio

#endif
