// Stripe's rate limits, kept on the client's side as budgets: one for the account (every
// request) and one per endpoint. A call takes from both before each attempt, or waits until
// both have room, so bursts queue instead of meeting 429s.
#ifndef STRIPE_ASIO_RATE_BUDGET_CONFIG_HPP
#define STRIPE_ASIO_RATE_BUDGET_CONFIG_HPP

#include <chrono>
#include <string>
#include <vector>

namespace stripe_asio {

/// An endpoint with a budget of its own, named by its templated path as the client names it:
/// the method, a space, and the path with ids replaced (`acct_...` by `:account`, any other
/// Stripe id by `:id`), e.g. "POST /v1/accounts/:account/login_links".
struct endpoint_budget {
    std::string endpoint;
    double per_second = 25;
};

struct rate_budget_config {
    /// false: no budget at all; every attempt goes at once (Stripe's own limits still apply).
    bool enabled = true;
    /// Requests per second for the whole account; 0: Stripe's published figure for the key's
    /// mode, 100 for a live key (sk_live_, rk_live_) and 25 for any other (test mode).
    double account_per_second = 0;
    /// Requests per second for each endpoint without an entry in `endpoints`: Stripe's default.
    double endpoint_per_second = 25;
    std::vector<endpoint_budget> endpoints;
    /// The longest a call waits for room; a longer wait fails at once with
    /// errc::rate_budget_exhausted. 0: as long as the call's deadline allows. An interactive
    /// server sets a few seconds: a person would rather see "busy, try again" than wait.
    std::chrono::milliseconds max_wait{0};
    /// Each budget paces at this share of its rate (the figure above, or Stripe's): a send
    /// leaves a few milliseconds early or late (timers, threads, the network, other servers of
    /// a fleet), and a limiter counting any one-second window sees sends paced at the full rate
    /// bunch up past it. 0.9 keeps 25/s at 22.5/s, room for about 100 ms of jitter a second.
    /// 1: the full rate.
    double headroom = 0.9;
    /// Requests each budget lets go at once after a lull (at least 1). A budget lets through
    /// at most burst + rate (after headroom) in any one second: keep that under the limit.
    double burst = 1;
    /// After a 429 whose Stripe-Rate-Limited-Reason names a budget, that budget's rate is
    /// multiplied by this (0 < factor <= 1; 1: no backoff)...
    double backoff_factor = 0.75;
    /// ...then climbs back by this share of its configured rate per second without a 429.
    /// With the defaults a 429 costs the budget about an eighth of a second's requests: one
    /// is most often a few sends that bunched up, not a budget too large.
    double recovery_per_second = 0.25;
};

} // namespace stripe_asio

#endif
