// Everything known about a failed call, beyond its error_code. Never holds the API key.
#ifndef STRIPE_ASIO_DIAGNOSTICS_HPP
#define STRIPE_ASIO_DIAGNOSTICS_HPP

#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/rate_limit_reason.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace stripe_asio {

/// One attempt that did not succeed.
struct attempt_record {
    error_code ec; ///< what went wrong on this attempt
    unsigned http_status = 0; ///< 0 when no response arrived
    std::string request_id; ///< `Request-Id` of the response, if any
    bool reused_connection = false;
    bool stale_connection = false; ///< failed on a reused connection before any response byte
    std::chrono::milliseconds wait_before_next{0}; ///< backoff waited before the next attempt
};

// Fields are placed so the struct does not grow: a caller's `co_await` keeps the completion's
// (error_code, diagnostics, result) in its frame, and a frame past Asio's recycling limit
// (about 1 KiB) costs a heap allocation on every call. The small fields sit in padding.
struct diagnostics {
    unsigned http_status = 0; ///< of the last response; 0 when none arrived
    /// errc::rate_budget_exhausted: how long until the budgets would have had room (at most
    /// about 49 days; longer waits read as that).
    std::chrono::duration<std::uint32_t, std::milli> rate_budget_wait{0};
    // Stripe's error object ({"error":{...}}) of the last response.
    std::string type;
    std::string code;
    std::string decline_code;
    std::string message;
    std::string param;
    std::string doc_url;
    std::string request_id; ///< `Request-Id` header of the last response
    std::string idempotency_key; ///< the key sent on every attempt
    std::string detail; ///< what the client saw: socket error, parse error, which input is bad
    unsigned attempts = 0; ///< attempts made (0 when the call failed before sending)
    /// A 429's `Stripe-Rate-Limited-Reason`, when the last answer had one (name() gives its text).
    rate_limit_reason rate_limited_reason = rate_limit_reason::none;
    std::vector<attempt_record> failed_attempts; ///< in order; the last one is the final outcome

    /// One line for logs: status, type, code, message, request id, attempts, detail.
    STRIPE_ASIO_DECL std::string to_string() const;
};

static_assert(sizeof(void*) != 8 || sizeof(std::string) != 32 || sizeof(diagnostics) <= 328,
              "diagnostics grew: see the comment above it");

} // namespace stripe_asio

#ifdef STRIPE_ASIO_HEADER_ONLY
#include <stripe_asio/impl/diagnostics.ipp>
#endif

#endif
