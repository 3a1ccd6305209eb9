// After a failed attempt: go again or stop, and how. The rules that combine the SDKs' retry
// policy, the stale-connection resend, the client's retry budget and the call's deadline, in one
// place with no I/O and no clock (the caller passes the time).
#ifndef STRIPE_ASIO_DETAIL_RETRY_DECISION_HPP
#define STRIPE_ASIO_DETAIL_RETRY_DECISION_HPP

#include <stripe_asio/detail/retry_budget.hpp>
#include <stripe_asio/detail/retry_policy.hpp>

#include <chrono>

namespace stripe_asio::detail {

struct retry_decision {
    bool again = false; ///< make another attempt (after `wait`)
    bool fresh = false; ///< on a new connection, never a reused one
    bool stale_resend = false; ///< the resend after a stale keep-alive connection, outside the budget
    bool retry = false; ///< a retry under the SDK rules (counted against max_retries)
    bool throttled = false; ///< the rules would retry, the client's retry budget says no
    bool past_deadline = false; ///< a retry was due, but its wait would end past the deadline
    std::chrono::milliseconds wait{0}; ///< backoff before the next attempt
};

/// Decides what follows a failed attempt, in this order:
/// 1. a failure a retry could mend (not a stale connection) spends a token of the budget;
/// 2. a stale connection (it failed before any response byte) is resent once, at once, fresh;
/// 3. otherwise, a retry the rules allow goes only if the budget allows it, after a backoff;
/// 4. no attempt goes if its wait would end at or past the deadline.
/// `jitter` in [0.5, 1) spreads the backoff; it is read only when a retry is taken.
template <class Jitter>
retry_decision decide_after_failure(const attempt_outcome& outcome, bool stale, retry_state& retries,
                                    retry_budget& budget, Jitter&& jitter, std::chrono::steady_clock::time_point now,
                                    std::chrono::steady_clock::time_point deadline) {
    retry_decision d;
    if (is_retryable(outcome) && !stale) budget.on_failure();
    if (stale && retries.take_stale_resend()) {
        d.again = d.fresh = d.stale_resend = true;
    } else if (retries.would_retry(outcome) && !budget.allows_retry()) {
        d.throttled = true;
    } else if (retries.take_retry(outcome)) {
        d.again = d.retry = true;
        d.wait = retries.next_delay(jitter());
    }
    if (d.again && now + d.wait >= deadline) {
        d.again = false;
        d.past_deadline = true;
        d.wait = std::chrono::milliseconds{0};
    }
    return d;
}

} // namespace stripe_asio::detail

#endif
