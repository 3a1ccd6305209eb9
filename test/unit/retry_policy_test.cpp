// The retry rules (is_retryable), the backoff formula, the jitter generator and one call's budget.
#include <doctest/doctest.h>

#include <stripe_asio/detail/retry_policy.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;
using stripe_asio::retry_config;
using stripe_asio::detail::attempt_outcome;
using stripe_asio::detail::backoff_delay;
using stripe_asio::detail::is_retryable;
using stripe_asio::detail::jitter_source;
using stripe_asio::detail::retry_state;

namespace {

attempt_outcome no_response() { return {}; }

constexpr attempt_outcome constexpr_response(unsigned status) {
    attempt_outcome o;
    o.got_response = true;
    o.status = status;
    return o;
}

attempt_outcome response(unsigned status) {
    attempt_outcome o;
    o.got_response = true;
    o.status = status;
    return o;
}

attempt_outcome response(unsigned status, bool should_retry_header) {
    attempt_outcome o = response(status);
    o.should_retry = should_retry_header;
    return o;
}

long long delay_ms(unsigned retry, const retry_config& cfg, double jitter) {
    return static_cast<long long>(backoff_delay(retry, cfg, jitter).count());
}

const retry_config defaults; ///< retry_state keeps a reference

retry_config custom_config() {
    retry_config cfg;
    cfg.initial_delay = 100ms;
    cfg.max_delay = 300ms;
    return cfg;
}

} // namespace

TEST_SUITE("unit") {

// ---- rule 1: no response ----

TEST_CASE("retry rule: no response (connect error, reset, EOF, timeout) is retried") {
    CHECK(is_retryable(no_response()));
}

TEST_CASE("retry rule: a certificate verification failure is never retried") {
    attempt_outcome o = no_response();
    o.certificate_failure = true;
    CHECK_FALSE(is_retryable(o));
}

TEST_CASE("retry rule: nothing is retried after the caller cancelled") {
    attempt_outcome o = no_response();
    o.caller_cancelled = true;
    CHECK_FALSE(is_retryable(o));

    attempt_outcome r = response(503, true);
    r.caller_cancelled = true;
    CHECK_FALSE(is_retryable(r));
}

TEST_CASE("retry rule: an unusable response (too large, not HTTP) is not retried") {
    attempt_outcome o = no_response();
    o.response_unusable = true;
    CHECK_FALSE(is_retryable(o));
}

// ---- rule 2: Stripe-Should-Retry ----

TEST_CASE("retry rule: Stripe-Should-Retry: false stops even a 500") {
    CHECK_FALSE(is_retryable(response(500, false)));
    CHECK_FALSE(is_retryable(response(503, false)));
    CHECK_FALSE(is_retryable(response(409, false)));
}

TEST_CASE("retry rule: Stripe-Should-Retry: true retries even a 400") {
    CHECK(is_retryable(response(400, true)));
    CHECK(is_retryable(response(429, true)));
    CHECK(is_retryable(response(404, true)));
}

// ---- rules 3 to 6: status ----

TEST_CASE("retry rule: 409 is retried") { CHECK(is_retryable(response(409))); }

TEST_CASE("retry rule: 429 is retried only for lock_timeout") {
    CHECK_FALSE(is_retryable(response(429)));
    attempt_outcome o = response(429);
    o.lock_timeout = true;
    CHECK(is_retryable(o));
}

TEST_CASE("retry rule: lock_timeout does not make a non-429 client error retryable") {
    attempt_outcome o = response(400);
    o.lock_timeout = true;
    CHECK_FALSE(is_retryable(o));
}

TEST_CASE("retry rule: 5xx is retried") {
    CHECK(is_retryable(response(500)));
    CHECK(is_retryable(response(502)));
    CHECK(is_retryable(response(503)));
    CHECK(is_retryable(response(504)));
}

TEST_CASE("retry rule: other client errors are not retried") {
    for (unsigned status : {400u, 401u, 402u, 403u, 404u, 418u, 422u}) {
        INFO("status ", status);
        CHECK_FALSE(is_retryable(response(status)));
    }
}

TEST_CASE("retry rules are constexpr") {
    static_assert(is_retryable(attempt_outcome{}));
    static_assert(!is_retryable(constexpr_response(404)));
    static_assert(is_retryable(constexpr_response(500)));
    CHECK_FALSE(is_retryable(constexpr_response(401)));
}

// ---- backoff ----

TEST_CASE("backoff: default config, jitter 0.5 (never below the initial 500 ms)") {
    retry_config cfg;
    CHECK(delay_ms(1, cfg, 0.5) == 500); // 500 * 0.5 = 250, raised to 500
    CHECK(delay_ms(2, cfg, 0.5) == 500);
    CHECK(delay_ms(3, cfg, 0.5) == 1000);
    CHECK(delay_ms(4, cfg, 0.5) == 2000);
    CHECK(delay_ms(5, cfg, 0.5) == 2500); // capped at 5000 before the jitter
    CHECK(delay_ms(6, cfg, 0.5) == 2500);
}

TEST_CASE("backoff: default config, jitter 0.999") {
    retry_config cfg;
    CHECK(delay_ms(1, cfg, 0.999) == 500); // 499.5, raised to 500
    CHECK(delay_ms(2, cfg, 0.999) == 999);
    CHECK(delay_ms(3, cfg, 0.999) == 1998);
    CHECK(delay_ms(4, cfg, 0.999) == 3996);
    CHECK(delay_ms(5, cfg, 0.999) == 4995);
    CHECK(delay_ms(6, cfg, 0.999) == 4995);
}

TEST_CASE("backoff: the cap holds for very late retries") {
    retry_config cfg;
    CHECK(delay_ms(64, cfg, 0.999) == 4995);
    CHECK(delay_ms(1000, cfg, 0.5) == 2500);
}

TEST_CASE("backoff: custom initial 100 ms and max 300 ms") {
    retry_config cfg = custom_config();
    CHECK(delay_ms(1, cfg, 0.5) == 100);
    CHECK(delay_ms(2, cfg, 0.5) == 100);
    CHECK(delay_ms(3, cfg, 0.5) == 150);
    CHECK(delay_ms(4, cfg, 0.5) == 150);
    CHECK(delay_ms(1, cfg, 0.999) == 100);
    CHECK(delay_ms(2, cfg, 0.999) == 199);
    CHECK(delay_ms(3, cfg, 0.999) == 299);
    CHECK(delay_ms(4, cfg, 0.999) == 299);
}

TEST_CASE("backoff: never below the initial delay, never above the cap") {
    for (const retry_config& cfg : {retry_config{}, custom_config()}) {
        for (unsigned retry = 1; retry <= 8; ++retry) {
            for (double jitter : {0.5, 0.6, 0.75, 0.9, 0.999999}) {
                auto d = backoff_delay(retry, cfg, jitter);
                INFO("retry ", retry, " jitter ", jitter, " delay ", d.count());
                CHECK(d >= cfg.initial_delay);
                CHECK(d <= cfg.max_delay);
            }
        }
    }
}

TEST_CASE("backoff: jitter outside [0.5, 1] is clamped") {
    retry_config cfg;
    CHECK(delay_ms(3, cfg, 0.0) == 1000);
    CHECK(delay_ms(3, cfg, -3.0) == 1000);
    CHECK(delay_ms(3, cfg, 7.0) == 2000);
}

TEST_CASE("backoff: a max_delay below initial_delay gives the initial delay") {
    retry_config cfg;
    cfg.initial_delay = 1000ms;
    cfg.max_delay = 100ms;
    CHECK(delay_ms(1, cfg, 0.999) == 1000);
    CHECK(delay_ms(4, cfg, 0.999) == 1000);
}

// ---- jitter ----

TEST_CASE("jitter_source: the same seed gives the same sequence") {
    jitter_source a(42), b(42);
    for (int i = 0; i < 100; ++i) CHECK(a.next() == b.next());
}

TEST_CASE("jitter_source: different seeds give different sequences") {
    jitter_source a(1), b(2);
    int same = 0;
    for (int i = 0; i < 100; ++i) same += a.next() == b.next();
    CHECK(same == 0);
}

TEST_CASE("jitter_source: seed 0 still produces varied values") {
    jitter_source z(0);
    double first = z.next();
    double second = z.next();
    CHECK(first != second);
    CHECK(first >= 0.5);
    CHECK(first < 1.0);
}

TEST_CASE("jitter_source: 10000 draws lie in [0.5, 1) with mean about 0.75") {
    jitter_source j(123456789);
    double sum = 0, lo = 1, hi = 0;
    const int n = 10000;
    int out_of_range = 0;
    for (int i = 0; i < n; ++i) {
        double v = j.next();
        if (v < 0.5 || v >= 1.0) ++out_of_range;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    CHECK(out_of_range == 0);
    double mean = sum / n;
    CHECK(mean > 0.73);
    CHECK(mean < 0.77);
    CHECK(lo < 0.51); // spread over the whole range
    CHECK(hi > 0.99);
}

// ---- one call's budget ----

TEST_CASE("retry_state: max_retries 2 allows exactly two retries of a 500") {
    retry_state s(defaults, 2);
    CHECK(s.retries() == 0);
    CHECK(s.take_retry(response(500)));
    CHECK(s.retries() == 1);
    CHECK(s.take_retry(response(500)));
    CHECK(s.retries() == 2);
    CHECK_FALSE(s.take_retry(response(500)));
    CHECK(s.retries() == 2);
}

TEST_CASE("retry_state: max_retries 0 allows none") {
    retry_state s(defaults, 0);
    CHECK_FALSE(s.take_retry(response(500)));
    CHECK_FALSE(s.take_retry(no_response()));
    CHECK(s.retries() == 0);
}

TEST_CASE("retry_state: a non-retryable outcome does not use the budget") {
    retry_state s(defaults, 1);
    CHECK_FALSE(s.take_retry(response(400)));
    CHECK_FALSE(s.take_retry(response(429)));
    CHECK(s.retries() == 0);
    CHECK(s.take_retry(response(409)));
    CHECK(s.retries() == 1);
}

TEST_CASE("retry_state: the stale-connection resend happens once, outside the budget") {
    retry_state s(defaults, 0);
    CHECK(s.take_stale_resend());
    CHECK_FALSE(s.take_stale_resend());
    CHECK(s.retries() == 0);

    retry_state t(defaults, 1);
    CHECK(t.take_stale_resend());
    CHECK(t.take_retry(no_response()));
    CHECK_FALSE(t.take_retry(no_response()));
    CHECK_FALSE(t.take_stale_resend());
}

TEST_CASE("retry_state: retry_stale_connection = false disables the stale resend") {
    retry_config cfg;
    cfg.retry_stale_connection = false;
    retry_state s(cfg, 2);
    CHECK_FALSE(s.take_stale_resend());
    CHECK_FALSE(s.take_stale_resend());
}

TEST_CASE("retry_state: next_delay grows with each retry taken") {
    retry_state s(defaults, 4);
    std::vector<long long> delays;
    while (s.take_retry(response(503))) delays.push_back(static_cast<long long>(s.next_delay(0.999).count()));
    CHECK(delays == std::vector<long long>{500, 999, 1998, 3996});
}

TEST_CASE("retry_state: next_delay uses the state's own config") {
    const retry_config custom = custom_config();
    retry_state s(custom, 3);
    REQUIRE(s.take_retry(no_response()));
    CHECK(s.next_delay(0.5) == 100ms);
    REQUIRE(s.take_retry(no_response()));
    CHECK(s.next_delay(0.999) == 199ms);
    REQUIRE(s.take_retry(no_response()));
    CHECK(s.next_delay(0.999) == 299ms);
}

} // TEST_SUITE("unit")
