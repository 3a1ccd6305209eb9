// call_machine: one call's rules driven step by step, with a fixed clock and no I/O. Each test
// plays the engine: it reports events and checks the action the machine asks for next.
#include <doctest/doctest.h>

#include <stripe_asio/detail/call_machine.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using stripe_asio::errc;
using stripe_asio::error_code;
using stripe_asio::retry_config;
using stripe_asio::detail::answer_facts;
using stripe_asio::detail::call_action;
using stripe_asio::detail::call_machine;
using stripe_asio::detail::call_phase;
using stripe_asio::detail::interrupt;
using stripe_asio::detail::retry_budget;

namespace {

using time_point = call_machine::time_point;
const time_point t0{std::chrono::hours(1)};
const boost::system::error_code no_error;
const boost::system::error_code reset = boost::asio::error::connection_reset;
const error_code aborted = boost::asio::error::operation_aborted;

double half() { return 0.5; }

const retry_config default_retry; ///< the machine keeps a reference to its retry_config

/// A machine with the client's defaults: no deadline, 10 s attempts, 2 retries.
call_machine make_machine(time_point deadline = time_point::max(), std::chrono::milliseconds attempt = 10s,
                          const retry_config& cfg = default_retry) {
    call_machine m;
    m.set_limits(deadline, attempt, cfg, cfg.max_retries);
    return m;
}

/// Drives a started call to the point where its request goes out on a reused connection.
void to_exchange(call_machine& m, time_point now = t0) {
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(m.budget_reserved(0ns, now) == call_action::take_connection);
    REQUIRE(m.taken(true, now, 30s) == call_action::send_request);
}

/// Drives a started call to the opening of a new connection.
void to_opening(call_machine& m, time_point now = t0) {
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(m.budget_reserved(0ns, now) == call_action::take_connection);
    REQUIRE(m.taken(false, now, 30s) == call_action::open_connection);
}

/// A 500 answer: judged and decided.
call_action after_500(call_machine& m, retry_budget& budget, time_point now) {
    REQUIRE(m.response_complete(500) == call_action::judge_failure);
    answer_facts answer;
    answer.status = 500;
    return m.after_failure(answer, errc::api_error, budget, half, now).next;
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("call machine: a call that succeeds goes budget, connection, request, answer, delivery") {
    auto m = make_machine();
    CHECK(m.phase() == call_phase::not_started);
    to_exchange(m);
    CHECK(m.attempts() == 1);
    CHECK(m.phase() == call_phase::exchanging);
    CHECK(m.written(no_error, {}) == call_action::read_response);
    CHECK_FALSE(m.read_interrupted(no_error));
    CHECK(m.response_complete(200) == call_action::deliver);
    CHECK(m.finished());
    CHECK(m.cancel() == interrupt::none); // too late to cancel
    CHECK_FALSE(m.cancel_requested());
}

TEST_CASE("call machine: at the start, cancellation comes before a refusal, a refusal before a shutdown") {
    {
        auto m = make_machine();
        CHECK(m.cancel() == interrupt::none); // nothing pending yet: the first step sees it
        CHECK(m.start(errc::invalid_account_id, "bad id", true) == call_action::complete);
        CHECK(m.error() == aborted);
        CHECK(std::string(m.why()) == "cancelled before it started");
    }
    {
        auto m = make_machine();
        CHECK(m.start(errc::invalid_account_id, "bad id", true) == call_action::complete);
        CHECK(m.error() == errc::invalid_account_id);
        CHECK(std::string(m.why()) == "bad id");
    }
    {
        auto m = make_machine();
        CHECK(m.start(errc{}, nullptr, true) == call_action::complete);
        CHECK(m.error() == errc::client_shut_down);
        CHECK(m.attempts() == 0);
    }
}

TEST_CASE("call machine: the rate limiter's wait is slept on the call's timer, and no room ends the call") {
    auto m = make_machine(t0 + 5s);
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    CHECK(m.budget_reserved(std::chrono::nanoseconds(250ms), t0) == call_action::wait);
    CHECK(m.wake_at() == t0 + 250ms);
    CHECK(m.phase() == call_phase::waiting);
    CHECK(m.cancel() == interrupt::timer); // the wait is on the timer
    CHECK(m.woken(t0 + 100ms) == call_action::complete);
    CHECK(m.error() == aborted);

    auto n = make_machine(t0 + 5s);
    REQUIRE(n.start(errc{}, nullptr, false) == call_action::reserve_budget);
    CHECK(n.budget_reserved(std::nullopt, t0) == call_action::complete);
    CHECK(n.error() == errc::rate_budget_exhausted);
    CHECK(std::string(n.why()) == "the rate budget has no room before the call's deadline");

    auto w = make_machine();
    REQUIRE(w.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(w.budget_reserved(std::chrono::nanoseconds(10ms), t0) == call_action::wait);
    CHECK(w.woken(t0 + 5ms) == call_action::wait); // woken early, for nothing: the rest of the wait
    CHECK(w.wake_at() == t0 + 10ms);
    CHECK(w.woken(t0 + 10ms) == call_action::take_connection); // the rate limiter's wait leads to the pool
}

TEST_CASE("call machine: room granted past the deadline ends the call at once, whatever its size") {
    // The local budgets never grant past the deadline; Redis's answer arrives a round trip
    // later than it was reckoned, and a server may grant anything at all.
    auto m = make_machine(t0 + 5s);
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    CHECK(m.budget_reserved(std::chrono::nanoseconds(5s) + 1ns, t0) == call_action::complete);
    CHECK(m.error() == errc::rate_budget_exhausted);

    auto edge = make_machine(t0 + 5s);
    REQUIRE(edge.start(errc{}, nullptr, false) == call_action::reserve_budget);
    CHECK(edge.budget_reserved(std::chrono::nanoseconds(5s), t0) == call_action::wait); // at the deadline: still in
    CHECK(edge.wake_at() == t0 + 5s);

    // No deadline: a wait past the clock's range is no room, never a time point that wraps.
    auto n = make_machine();
    REQUIRE(n.start(errc{}, nullptr, false) == call_action::reserve_budget);
    CHECK(n.budget_reserved(std::chrono::steady_clock::duration::max(), t0) == call_action::complete);
    CHECK(n.error() == errc::rate_budget_exhausted);
}

TEST_CASE("call machine: the shared budget is waited for on the call's timer; a stop or the deadline ends the wait") {
    auto m = make_machine(t0 + 5s);
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    m.consulting_budget(t0 + 200ms);
    CHECK(m.phase() == call_phase::waiting);
    CHECK(m.wake_at() == t0 + 200ms);
    CHECK(m.budget_consulted(t0 + 3ms) == call_action::reserve_budget); // answered, or not: go on
    CHECK(m.budget_reserved(std::chrono::nanoseconds(40ms), t0 + 3ms) == call_action::wait);
    CHECK(m.woken(t0 + 43ms) == call_action::take_connection);

    auto c = make_machine(t0 + 5s);
    REQUIRE(c.start(errc{}, nullptr, false) == call_action::reserve_budget);
    c.consulting_budget(t0 + 200ms);
    CHECK(c.cancel() == interrupt::timer); // the wait for the answer is cut short
    CHECK(c.budget_consulted(t0 + 1ms) == call_action::complete);
    CHECK(c.error() == aborted);

    auto d = make_machine(t0 + 100ms);
    REQUIRE(d.start(errc{}, nullptr, false) == call_action::reserve_budget);
    d.consulting_budget(t0 + 100ms);
    CHECK(d.budget_consulted(t0 + 100ms) == call_action::complete);
    CHECK(d.error() == errc::deadline_exceeded);

    auto s = make_machine(t0 + 5s);
    REQUIRE(s.start(errc{}, nullptr, false) == call_action::reserve_budget);
    s.consulting_budget(t0 + 200ms);
    CHECK(s.shutdown() == interrupt::timer);
    CHECK(s.budget_consulted(t0 + 1ms) == call_action::complete);
    CHECK(s.error() == errc::client_shut_down);
}

TEST_CASE("call machine: in the pool's queue, a grant starts the attempt, a deadline or a stop ends the call") {
    auto m = make_machine(t0 + 1s);
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(m.budget_reserved(0ns, t0) == call_action::take_connection);
    CHECK(m.queued() == call_action::wait_in_queue);
    CHECK(m.deadline() == t0 + 1s);
    CHECK(m.queue_woken(false, t0 + 500ms) == call_action::wait_in_queue); // woken for nothing: waits on
    CHECK(m.phase() == call_phase::queued);
    CHECK(m.queue_woken(false, t0 + 1s) == call_action::complete); // woken without a slot: the deadline
    CHECK(m.error() == errc::deadline_exceeded);

    auto granted = make_machine();
    REQUIRE(granted.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(granted.budget_reserved(0ns, t0) == call_action::take_connection);
    REQUIRE(granted.queued() == call_action::wait_in_queue);
    CHECK(granted.queue_woken(true, {}) == call_action::use_slot);

    auto stopped = make_machine();
    REQUIRE(stopped.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(stopped.budget_reserved(0ns, t0) == call_action::take_connection);
    REQUIRE(stopped.queued() == call_action::wait_in_queue);
    CHECK(stopped.shutdown() == interrupt::timer);
    CHECK(stopped.queue_woken(true, {}) == call_action::complete); // the slot it was handed goes on unused
    CHECK(stopped.error() == errc::client_shut_down);

    auto overflow = make_machine();
    REQUIRE(overflow.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(overflow.budget_reserved(0ns, t0) == call_action::take_connection);
    CHECK(overflow.overflowed() == call_action::complete);
    CHECK(overflow.error() == errc::too_many_pending);
}

TEST_CASE("call machine: a slot handed over at the deadline sends nothing") {
    auto m = make_machine(t0 + 1s);
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    REQUIRE(m.budget_reserved(0ns, t0) == call_action::take_connection);
    CHECK(m.taken(true, t0 + 1s, 30s) == call_action::complete);
    CHECK(m.error() == errc::deadline_exceeded);
    CHECK(m.attempts() == 0);
}

TEST_CASE("call machine: an attempt ends at its timeout or at the deadline, and opening at connect_timeout") {
    SUBCASE("the attempt timeout is sooner") {
        auto m = make_machine(t0 + 60s, 10s);
        to_opening(m);
        CHECK(m.watched_expiry() == t0 + 10s); // connect_timeout (30 s) is later
        CHECK(m.opened(no_error, {}, false) == call_action::send_request);
        CHECK(m.watched_expiry() == t0 + 10s);
        CHECK(m.expire(t0 + 9s) == interrupt::none);
        CHECK(m.expire(t0 + 10s) == interrupt::exchange);
        CHECK(m.expire(t0 + 11s) == interrupt::none); // once
        CHECK(m.read_interrupted(reset));
        CHECK_FALSE(m.read_interrupted(no_error)); // a complete answer still counts
        CHECK(m.exchange_failed(boost::asio::error::operation_aborted, errc::connection_error, true) ==
              call_action::judge_failure);
        CHECK(m.report().ec == errc::attempt_timeout);
        CHECK(m.report().detail == "the response did not complete within the attempt's time");
        CHECK_FALSE(m.report().stale);
    }
    SUBCASE("the deadline is sooner: the attempt is deadline-bound") {
        auto m = make_machine(t0 + 3s, 10s);
        to_exchange(m);
        CHECK(m.watched_expiry() == t0 + 3s);
        CHECK(m.expire(t0 + 3s) == interrupt::exchange);
        CHECK(m.written(boost::asio::error::operation_aborted, errc::connection_error) == call_action::judge_failure);
        CHECK(m.report().ec == errc::deadline_exceeded);
        CHECK(m.report().detail == "no response before the call's deadline");
        retry_budget budget(0, 0.1);
        CHECK(m.after_failure({}, m.report().ec, budget, half, t0 + 3s).next == call_action::complete);
        CHECK(m.error() == errc::deadline_exceeded);
    }
    SUBCASE("connect_timeout is sooner while opening") {
        auto m = make_machine(time_point::max(), 60s);
        to_opening(m);
        CHECK(m.watched_expiry() == t0 + 30s);
        CHECK(m.expire(t0 + 30s) == interrupt::opening);
        m.report().detail = "connecting to host: Operation canceled";
        CHECK(m.opened(boost::asio::error::operation_aborted, errc::connection_error, false) ==
              call_action::judge_failure);
        CHECK(m.report().ec == errc::connection_error); // retryable: no attempt timeout
        CHECK(m.report().detail == "no connection within connect_timeout (connecting to host: Operation canceled)");
        retry_budget budget(0, 0.1);
        auto verdict = m.after_failure({}, m.report().ec, budget, half, t0 + 30s);
        CHECK(verdict.next == call_action::wait);
        CHECK(verdict.decision.retry);
    }
}

TEST_CASE("call machine: a stale reused connection is resent at once, fresh, outside the retries") {
    retry_config cfg;
    cfg.max_retries = 0;
    auto m = make_machine(time_point::max(), 10s, cfg);
    to_exchange(m);
    CHECK(m.written(reset, errc::connection_error) == call_action::judge_failure);
    CHECK(m.report().stale);
    CHECK(m.report().detail == "reading the response: " + reset.message());
    retry_budget budget(10, 0.1);
    auto verdict = m.after_failure({}, errc::connection_error, budget, half, t0);
    CHECK(verdict.next == call_action::reserve_budget);
    CHECK(m.fresh());
    CHECK(m.stale_resent());
    CHECK(verdict.decision.stale_resend);
    // The resend, on a new connection: a second failure is an ordinary one, and max_retries is 0.
    REQUIRE(m.budget_reserved(0ns, t0) == call_action::take_connection);
    REQUIRE(m.taken(false, t0, 30s) == call_action::open_connection);
    CHECK_FALSE(m.fresh());
    REQUIRE(m.opened(no_error, {}, false) == call_action::send_request);
    CHECK(m.exchange_failed(reset, errc::connection_error, false) == call_action::judge_failure);
    CHECK_FALSE(m.report().stale); // not a reused connection
    CHECK(m.after_failure({}, errc::connection_error, budget, half, t0).next == call_action::complete);
    CHECK(m.error() == errc::connection_error);
    CHECK(m.attempts() == 2);
}

TEST_CASE("call machine: a failure after a response byte, or after a stop, is not stale") {
    auto m = make_machine();
    to_exchange(m);
    REQUIRE(m.written(no_error, {}) == call_action::read_response);
    CHECK(m.exchange_failed(reset, errc::connection_error, true) == call_action::judge_failure);
    CHECK_FALSE(m.report().stale);

    auto c = make_machine();
    to_exchange(c);
    CHECK(c.cancel() == interrupt::exchange);
    CHECK(c.written(boost::asio::error::operation_aborted, errc::connection_error) == call_action::judge_failure);
    CHECK_FALSE(c.report().stale);
    CHECK(c.report().ec == aborted);
    retry_budget budget(10, 0.1);
    CHECK(c.after_failure({}, c.report().ec, budget, half, t0).next == call_action::complete); // never retried
    CHECK(c.error() == aborted);
}

TEST_CASE("call machine: an answer refused as another request's is the connection's fault: resent at once, "
          "fresh, once") {
    auto m = make_machine();
    to_exchange(m);
    REQUIRE(m.written(no_error, {}) == call_action::read_response);
    CHECK(m.answer_refused("a copy") == call_action::judge_failure);
    CHECK(m.report().stale);
    CHECK(m.report().ec == errc::connection_error);
    CHECK(m.report().detail == "a copy");
    retry_budget budget(10, 0.1);
    auto verdict = m.after_failure({}, m.report().ec, budget, half, t0);
    CHECK(verdict.next == call_action::reserve_budget); // no backoff
    CHECK(verdict.decision.stale_resend);
    CHECK(m.fresh());
    // Refused again on the new connection: an ordinary retryable failure, after a backoff.
    REQUIRE(m.budget_reserved(0ns, t0) == call_action::take_connection);
    REQUIRE(m.taken(false, t0, 30s) == call_action::open_connection);
    REQUIRE(m.opened(no_error, {}, false) == call_action::send_request);
    REQUIRE(m.written(no_error, {}) == call_action::read_response);
    CHECK(m.answer_refused("no echo") == call_action::judge_failure);
    CHECK_FALSE(m.report().stale);
    verdict = m.after_failure({}, m.report().ec, budget, half, t0);
    CHECK(verdict.next == call_action::wait);
    CHECK(verdict.decision.retry);

    // Refused after the caller cancelled: the cancellation is what the call ends with.
    auto c = make_machine();
    to_exchange(c);
    REQUIRE(c.written(no_error, {}) == call_action::read_response);
    CHECK(c.cancel() == interrupt::exchange);
    CHECK(c.answer_refused("a copy") == call_action::judge_failure);
    CHECK_FALSE(c.report().stale);
    CHECK(c.report().ec == aborted);
}

TEST_CASE("call machine: the caller's cancellation wins over a shutdown, a shutdown over the attempt's time") {
    auto m = make_machine(t0 + 2s);
    to_exchange(m);
    CHECK(m.expire(t0 + 2s) == interrupt::exchange);
    CHECK(m.shutdown() == interrupt::exchange);
    CHECK(m.read_interrupted(no_error)); // a stop does not wait for the answer
    CHECK(m.exchange_failed(boost::asio::error::operation_aborted, errc::connection_error, false) ==
          call_action::judge_failure);
    CHECK(m.report().ec == errc::client_shut_down);

    auto n = make_machine(t0 + 2s);
    to_opening(n);
    CHECK(n.expire(t0 + 2s) == interrupt::opening);
    CHECK(n.shutdown() == interrupt::opening);
    CHECK(n.cancel() == interrupt::opening);
    CHECK(n.opened(boost::asio::error::operation_aborted, errc::connection_error, false) == call_action::judge_failure);
    CHECK(n.report().ec == aborted);
    CHECK(n.report().detail.empty()); // a stop is not described as a timeout
}

TEST_CASE("call machine: a certificate that does not verify is not retried") {
    auto m = make_machine();
    to_opening(m);
    CHECK(m.opened(boost::asio::error::connection_reset, errc::connection_error, true) == call_action::judge_failure);
    CHECK(m.report().ec == errc::tls_verification_failed);
    retry_budget budget(10, 0.1);
    CHECK(m.after_failure({}, m.report().ec, budget, half, t0).next == call_action::complete);
    CHECK(m.error() == errc::tls_verification_failed);
}

TEST_CASE("call machine: an answer that cannot be used is not retried") {
    auto m = make_machine();
    to_exchange(m);
    REQUIRE(m.written(no_error, {}) == call_action::read_response);
    CHECK(m.exchange_failed(no_error, errc::malformed_response, true) == call_action::judge_failure);
    CHECK(m.report().unusable);
    retry_budget budget(10, 0.1);
    CHECK(m.after_failure({}, m.report().ec, budget, half, t0).next == call_action::complete);
    CHECK(m.error() == errc::malformed_response);
}

TEST_CASE("call machine: a 500 is retried after a backoff on the call's timer, until max_retries") {
    auto m = make_machine();
    retry_budget budget(0, 0.1);
    to_exchange(m);
    REQUIRE(m.written(no_error, {}) == call_action::read_response);
    CHECK(after_500(m, budget, t0) == call_action::wait);
    CHECK(m.wake_at() == t0 + 500ms);
    CHECK(m.cancel() == interrupt::timer);
    CHECK(m.woken(t0 + 100ms) == call_action::complete); // cancelled during the backoff
    CHECK(m.error() == aborted);

    auto r = make_machine();
    to_exchange(r);
    CHECK(after_500(r, budget, t0) == call_action::wait);
    CHECK(r.woken(t0 + 500ms) == call_action::reserve_budget); // backoff leads to a new attempt
    REQUIRE(r.budget_reserved(0ns, t0 + 1s) == call_action::take_connection);
    REQUIRE(r.taken(true, t0 + 1s, 30s) == call_action::send_request);
    CHECK(after_500(r, budget, t0 + 1s) == call_action::wait);
    CHECK(r.woken(t0 + 2s) == call_action::reserve_budget);
    REQUIRE(r.budget_reserved(0ns, t0 + 2s) == call_action::take_connection);
    REQUIRE(r.taken(true, t0 + 2s, 30s) == call_action::send_request);
    CHECK(after_500(r, budget, t0 + 2s) == call_action::complete);
    CHECK(r.error() == errc::api_error);
    CHECK(r.attempts() == 3);
}

TEST_CASE("call machine: a backoff that would end past the deadline is not started") {
    auto m = make_machine(t0 + 400ms);
    retry_budget budget(0, 0.1);
    to_exchange(m);
    REQUIRE(m.response_complete(500) == call_action::judge_failure);
    answer_facts answer;
    answer.status = 500;
    auto verdict = m.after_failure(answer, errc::api_error, budget, half, t0);
    CHECK(verdict.next == call_action::complete); // 500 ms of backoff
    CHECK(verdict.decision.past_deadline);
    CHECK(m.error() == errc::api_error); // the call ends with what Stripe said
}

TEST_CASE("call machine: the attempt timer finds only attempts in progress") {
    auto m = make_machine(time_point::max(), 1s);
    REQUIRE(m.start(errc{}, nullptr, false) == call_action::reserve_budget);
    CHECK(m.expire(t0 + 1h) == interrupt::none); // no attempt yet
    REQUIRE(m.budget_reserved(0ns, t0) == call_action::take_connection);
    REQUIRE(m.taken(true, t0, 30s) == call_action::send_request);
    CHECK(m.expire(t0 + 500ms) == interrupt::none);
    CHECK_FALSE(m.timed_out());
    CHECK(m.response_complete(404) == call_action::judge_failure);
    CHECK(m.expire(t0 + 2s) == interrupt::none); // the answer came: the attempt is over
}

} // TEST_SUITE("unit")
