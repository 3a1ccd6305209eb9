#ifndef STRIPE_ASIO_CLIENT_STATS_HPP
#define STRIPE_ASIO_CLIENT_STATS_HPP

#include <cstdint>

namespace stripe_asio {

/// Counters of a client since it was made; a snapshot, readable from any thread at any time.
struct client_stats {
    std::uint64_t calls_started = 0;
    std::uint64_t calls_succeeded = 0;
    std::uint64_t calls_failed = 0;
    std::uint64_t attempts = 0;
    std::uint64_t retries = 0; ///< backoff retries (not counting stale resends)
    std::uint64_t stale_resends = 0; ///< requests resent because a reused connection was dead
    std::uint64_t connections_opened = 0; ///< TCP + TLS established
    std::uint64_t connections_closed = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t tls_full_handshakes = 0;
    std::uint64_t tls_resumed_handshakes = 0;
    std::uint64_t connection_reuses = 0; ///< requests sent on an already used connection
    std::uint64_t calls_in_flight = 0;
    std::uint64_t waiters = 0; ///< calls waiting for a connection now
    std::uint64_t idle_connections = 0;
    std::uint64_t open_connections = 0;
    std::uint64_t idle_evictions = 0; ///< closed after config::idle_timeout
    std::uint64_t stale_detected_before_use = 0; ///< idle connections found closed by the server
    std::uint64_t rate_limited_waits = 0; ///< attempts that waited for the rate budget
    std::uint64_t rate_budget_exhausted = 0; ///< calls refused: no room before their deadline
    std::uint64_t budget_waiters = 0; ///< calls waiting for the rate budget now
    /// 429 answers, all, then by Stripe-Rate-Limited-Reason (a 429 without one counts in the first only).
    std::uint64_t rate_limited_answers = 0;
    std::uint64_t rate_limited_global_rate = 0;
    std::uint64_t rate_limited_endpoint_rate = 0;
    std::uint64_t rate_limited_global_concurrency = 0;
    std::uint64_t rate_limited_endpoint_concurrency = 0;
    std::uint64_t rate_limited_resource_specific = 0;
    /// The shared budget (config::shared_budget): attempts given room by Redis; attempts that
    /// took room from the local share instead (no connection to Redis, or it failed them);
    /// and, of those, the ones Redis was asked for and failed (late, lost, or a wrong answer).
    std::uint64_t shared_budget_reservations = 0;
    std::uint64_t shared_budget_fallbacks = 0;
    std::uint64_t shared_budget_failures = 0;
    std::uint64_t shared_budget_connections = 0; ///< connections to Redis up now
    std::uint64_t retries_throttled = 0; ///< retries the retry budget did not allow
    /// Complete answers refused as not their request's (another request's key, no echo of the
    /// key from a server that echoes, a copy of an earlier answer, another object than asked for).
    std::uint64_t answers_refused = 0;
};

} // namespace stripe_asio

#endif
