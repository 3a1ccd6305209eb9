// decide_after_failure: the order in which the retry rules, the stale resend, the retry budget
// and the deadline combine, step by step with a fixed clock and fixed jitter.
#include <doctest/doctest.h>

#include <stripe_asio/detail/retry_decision.hpp>

#include <chrono>

using namespace std::chrono_literals;
using stripe_asio::retry_config;
using stripe_asio::detail::attempt_outcome;
using stripe_asio::detail::decide_after_failure;
using stripe_asio::detail::retry_budget;
using stripe_asio::detail::retry_state;

namespace {

using time_point = std::chrono::steady_clock::time_point;
const time_point now{std::chrono::hours(1)};
const time_point no_deadline = time_point::max();

attempt_outcome status(unsigned s) {
    attempt_outcome o;
    o.got_response = true;
    o.status = s;
    return o;
}

attempt_outcome no_response() { return attempt_outcome{}; }

struct counting_jitter {
    int* reads;
    double operator()() const {
        ++*reads;
        return 0.5;
    }
};

} // namespace

TEST_SUITE("unit") {

TEST_CASE("retry decision: a 500 is retried after the backoff, until max_retries") {
    retry_config cfg; // 2 retries, 500 ms initial delay
    retry_state retries(cfg, cfg.max_retries);
    retry_budget budget(0, 0.1); // off
    int reads = 0;
    auto first = decide_after_failure(status(500), false, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK(first.again);
    CHECK(first.retry);
    CHECK_FALSE(first.fresh);
    CHECK(first.wait == 500ms); // jitter 0.5, but never below initial_delay
    auto second = decide_after_failure(status(500), false, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK(second.again);
    CHECK(second.wait == 500ms); // 1000 * 0.5
    auto third = decide_after_failure(status(500), false, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK_FALSE(third.again);
    CHECK_FALSE(third.retry);
    CHECK(third.wait == 0ms);
    CHECK(reads == 2); // jitter is drawn only for a retry taken
}

TEST_CASE("retry decision: a 400 stops at once and spends nothing") {
    retry_config cfg;
    retry_state retries(cfg, cfg.max_retries);
    retry_budget budget(10, 0.1);
    int reads = 0;
    auto d = decide_after_failure(status(400), false, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK_FALSE(d.again);
    CHECK_FALSE(d.throttled);
    CHECK(budget.tokens() == 10);
}

TEST_CASE("retry decision: a stale connection is resent once, fresh and at once, outside budget and retries") {
    retry_config cfg;
    retry_state retries(cfg, 0); // no retries at all
    retry_budget budget(10, 0.1);
    int reads = 0;
    auto d = decide_after_failure(no_response(), true, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK(d.again);
    CHECK(d.fresh);
    CHECK(d.stale_resend);
    CHECK_FALSE(d.retry);
    CHECK(d.wait == 0ms);
    CHECK(budget.tokens() == 10); // a stale socket says nothing about Stripe's health
    // The allowance is once per call: a second stale failure is an ordinary one.
    auto again = decide_after_failure(no_response(), true, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK_FALSE(again.again);
    CHECK_FALSE(again.stale_resend);
    CHECK(reads == 0);
}

TEST_CASE("retry decision: the stale resend can be switched off") {
    retry_config cfg;
    cfg.retry_stale_connection = false;
    retry_state retries(cfg, 0);
    retry_budget budget(0, 0.1);
    int reads = 0;
    auto d = decide_after_failure(no_response(), true, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK_FALSE(d.again);
}

TEST_CASE("retry decision: a spent budget throttles a retry the rules allow, and says so") {
    retry_config cfg;
    retry_state retries(cfg, cfg.max_retries);
    retry_budget budget(2, 0.1); // retries only while more than 1 token is left
    int reads = 0;
    auto d = decide_after_failure(status(503), false, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK_FALSE(d.again); // the failure itself spent the second token: 1 left, not more than half
    CHECK(d.throttled);
    CHECK(budget.tokens() == 1);
    CHECK(reads == 0);
    // A failure the rules would not retry is not "throttled".
    auto stop = decide_after_failure(status(402), false, retries, budget, counting_jitter{&reads}, now, no_deadline);
    CHECK_FALSE(stop.throttled);
}

TEST_CASE("retry decision: no attempt whose wait would end at or past the deadline") {
    retry_config cfg;
    retry_state retries(cfg, cfg.max_retries);
    retry_budget budget(0, 0.1);
    int reads = 0;
    auto cut = decide_after_failure(status(500), false, retries, budget, counting_jitter{&reads}, now, now + 500ms);
    CHECK_FALSE(cut.again);
    CHECK(cut.past_deadline);
    CHECK(cut.wait == 0ms);
    retry_state more(cfg, cfg.max_retries);
    auto room = decide_after_failure(status(500), false, more, budget, counting_jitter{&reads}, now, now + 501ms);
    CHECK(room.again);
    // Even the immediate stale resend needs time left.
    retry_state stale(cfg, 0);
    auto late = decide_after_failure(no_response(), true, stale, budget, counting_jitter{&reads}, now, now);
    CHECK_FALSE(late.again);
    CHECK(late.past_deadline);
}

TEST_CASE("retry decision: cancellation and certificate failures are never retried") {
    retry_config cfg;
    retry_state retries(cfg, cfg.max_retries);
    retry_budget budget(10, 0.1);
    int reads = 0;
    attempt_outcome cancelled;
    cancelled.caller_cancelled = true;
    CHECK_FALSE(
        decide_after_failure(cancelled, false, retries, budget, counting_jitter{&reads}, now, no_deadline).again);
    attempt_outcome bad_certificate;
    bad_certificate.certificate_failure = true;
    CHECK_FALSE(
        decide_after_failure(bad_certificate, false, retries, budget, counting_jitter{&reads}, now, no_deadline).again);
    CHECK(budget.tokens() == 10);
}

} // TEST_SUITE("unit")
