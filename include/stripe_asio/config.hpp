#ifndef STRIPE_ASIO_CONFIG_HPP
#define STRIPE_ASIO_CONFIG_HPP

#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/key_echo_policy.hpp>
#include <stripe_asio/rate_budget_config.hpp>
#include <stripe_asio/retry_config.hpp>
#include <stripe_asio/shared_budget_config.hpp>
#include <stripe_asio/version.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace stripe_asio {

/// Everything a client needs, validated when the client is made (see `validate`).
struct config {
    /// Secret or restricted key (sk_..., rk_...); required; visible ASCII only, no spaces.
    /// Never logged or put in errors.
    std::string api_key;
    /// https://host[:port][/prefix]. Only https is accepted.
    std::string base_url = "https://api.stripe.com";
    /// Sent as `Stripe-Version` on every request.
    std::string stripe_version = default_stripe_version;
    /// PEM file of the CAs to trust instead of the system's trust store.
    std::string ca_file;
    /// PEM text of the CAs to trust (added to ca_file or replacing the system store).
    std::string ca_pem;

    /// One attempt: connect, TLS handshake, write and read together. SDKs use 80 s.
    std::chrono::milliseconds attempt_timeout{80'000};
    /// Opening a connection: name lookup, TCP connect and TLS handshake, within the attempt's own
    /// time. 30 s, as the SDKs that set one. A lookup that outlives it finishes in the
    /// background; the call does not wait for it.
    std::chrono::milliseconds connect_timeout{30'000};
    /// The whole call, retries and backoff included. 0: no limit beyond the attempts'.
    std::chrono::milliseconds call_timeout{0};

    /// Keep-alive TLS connections open at once.
    std::size_t max_connections = 16;
    /// Calls that may wait for a connection when all are busy; past it a call fails with
    /// errc::too_many_pending at once. Also, separately, the calls that may wait for the rate
    /// budget; past it a call that would wait fails with errc::rate_budget_exhausted.
    std::size_t max_pending = 100'000;
    /// A connection idle this long is closed instead of reused (checked whenever the pool is
    /// used), so requests don't meet the server's own keep-alive close. 0: keep them.
    std::chrono::milliseconds idle_timeout{30'000};
    /// Connections kept open even when no call needs them: opened when the client is made, and
    /// opened again after idle_timeout or a close by the server, so a burst after a lull finds
    /// them ready. 0 (default): connections open only on demand. With min_idle > 0 the client
    /// checks its idle connections every min(idle_timeout / 2, 1 s), which keeps the executor's
    /// run() busy until the client is destroyed. At most max_connections.
    std::size_t min_idle = 0;
    /// Stripe's rate limits kept on this side (every attempt counts): the account's, 100/s live
    /// and 25/s in test mode, and 25/s per endpoint; on by default. A call waits for room, or
    /// fails at once with errc::rate_budget_exhausted when the room comes after its deadline.
    /// The budgets are this client's: several clients or servers on one account each keep their
    /// own unless they share one (see docs/configuration.md).
    rate_budget_config rate_budget;
    /// The same budgets shared through Redis by every client of a fleet (off by default; see
    /// shared_budget_config.hpp). rate_budget sets the rates; rate_budget.enabled = false turns
    /// both off.
    shared_budget_config shared_budget;

    /// Largest accepted response body; a larger one fails with errc::response_too_large.
    std::size_t max_response_bytes = 1024 * 1024;

    retry_config retry;

    /// When an answer to a request that sent an Idempotency-Key must echo it to be accepted:
    /// learned from the server by default (see key_echo_policy.hpp). An answer refused here is
    /// not this request's: the connection is closed and the request resent with the same key.
    key_echo_policy key_echo = key_echo_policy::learn;

    /// Serialise the client's work on a strand so it can be shared by many threads. false saves
    /// the strand when only one thread runs the executor.
    bool thread_safe = true;

    /// STRIPE_API_KEY, STRIPE_API_BASE and STRIPE_CA_FILE from the environment, defaults otherwise.
    STRIPE_ASIO_DECL static config from_env();

    /// Throws error_with_diagnostics (errc::missing_api_key, errc::invalid_api_key_format or
    /// errc::invalid_config, with the reason in the message) when a field is wrong.
    STRIPE_ASIO_DECL void validate() const;
};

} // namespace stripe_asio

#ifdef STRIPE_ASIO_HEADER_ONLY
#include <stripe_asio/impl/config.ipp>
#endif

#endif
