// One call's rules, with no I/O and no clock: the engine reports what happened (with the time,
// when it matters) and the machine says what to do next. It holds where the call stands, the
// flags that used to be spread over the I/O code (cancelled, shut down, timed out, deadline-bound,
// fresh), and the report of the attempt in progress. Its rules, in one place:
// - a call stops for its caller's cancellation first, then for a shutdown, then for time;
// - an attempt ends at the attempt timeout or at the call's deadline, whichever is sooner, and
//   its opening of a connection at connect_timeout sooner still;
// - a failure on a reused connection before any response byte is stale (resent once, fresh),
//   and so is an answer refused as not the request's;
// - after a failure, decide_after_failure (retry_decision.hpp) says whether to go again.
#ifndef STRIPE_ASIO_DETAIL_CALL_MACHINE_HPP
#define STRIPE_ASIO_DETAIL_CALL_MACHINE_HPP

#include <stripe_asio/detail/retry_budget.hpp>
#include <stripe_asio/detail/retry_decision.hpp>
#include <stripe_asio/detail/retry_policy.hpp>
#include <stripe_asio/error.hpp>

#include <boost/asio/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace stripe_asio::detail {

/// What the engine does next for a call, and which event it reports when that is done.
enum class call_action : std::uint8_t {
    reserve_budget, ///< ask the rate limiter for room before deadline(): budget_reserved()
    take_connection, ///< from the pool, a new one if fresh(): taken(), or queued() then queue_woken()
    wait, ///< wait on the call's timer until wake_at() (rate limit or backoff): woken()
    wait_in_queue, ///< wait for a connection until deadline(): queue_woken()
    use_slot, ///< a slot was handed over in the queue: start the attempt in it, taken()
    open_connection, ///< open a connection in the slot held: opened()
    send_request, ///< write the request on the connection held: written()
    read_response, ///< read the answer: read_interrupted(), exchange_failed(), response_complete()
    judge_failure, ///< the attempt failed (report()): after_failure(), with the answer's facts
    deliver, ///< a 2xx answer: parse it into the result and complete the call
    complete, ///< end the call with error() and, if set, why()
};

/// How a call stands.
enum class call_phase : std::uint8_t {
    not_started, ///< its first step has not run
    between, ///< between two steps (running, nothing pending)
    waiting, ///< on its timer: the rate limiter or backoff
    queued, ///< in the pool's queue
    opening, ///< opening a connection for its attempt
    exchanging, ///< writing the request or reading the answer
    finished, ///< completed, or about to be
};

/// What must be interrupted for a cancellation, a shutdown or the attempt's expiry.
enum class interrupt : std::uint8_t {
    none, ///< nothing pending: the next step sees the flag
    timer, ///< the call's timer (queue, rate limit, backoff)
    opening, ///< the opening of its connection
    exchange, ///< the I/O on its connection
};

/// How one attempt went, before the retry rules look at it.
struct attempt_report {
    error_code ec; ///< set when there is no usable response
    std::string detail; ///< the transport's own words
    bool reused = false;
    bool stale = false; ///< failed on a reused connection before any response byte, or its answer was refused
    bool certificate_failure = false;
    bool unusable = false; ///< nothing to retry: refused locally, or an answer that cannot be used
};

/// What the engine read of a failed attempt's answer (nothing when no answer came).
struct answer_facts {
    unsigned status = 0;
    std::optional<bool> should_retry; ///< Stripe-Should-Retry
    bool lock_timeout = false; ///< error.code "lock_timeout"
};

class call_machine {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    /// The call's limits, fixed before it starts. `deadline` max: none.
    void set_limits(time_point deadline, std::chrono::milliseconds attempt_timeout, const retry_config& cfg,
                    unsigned max_retries) {
        deadline_ = deadline;
        attempt_timeout_ = attempt_timeout;
        retries_ = retry_state(cfg, max_retries);
    }

    // Events. Each returns the next action (some return nothing: the engine goes on as it was).

    /// The first step. `refused` is the first problem found in the input (null: none).
    call_action start(errc refused_as, const char* refused, bool client_shut_down) {
        phase_ = call_phase::between;
        if (cancel_requested_) return end(boost::asio::error::operation_aborted, "cancelled before it started");
        if (refused) return end(refused_as, refused);
        if (client_shut_down) {
            shut_down_ = true;
            return end(errc::client_shut_down, "the client was shut down before the call started");
        }
        return call_action::reserve_budget;
    }

    /// The rate limiter's answer: the wait before room, or none before the deadline.
    call_action budget_reserved(std::optional<clock::duration> wait, time_point now) {
        if (stopping()) return end(interruption());
        if (!wait) return end(errc::rate_budget_exhausted, "the rate budget has no room before the call's deadline");
        if (wait->count() > 0) {
            // Room past the deadline is no room: local budgets never give it, but Redis's wait
            // is reckoned a round trip before it arrives, and a server may answer anything.
            // Compared as durations: now + wait may pass the clock's range.
            if (now >= deadline_ || *wait > deadline_ - now)
                return end(errc::rate_budget_exhausted, "the rate budget has no room before the call's deadline");
            waiting_for_budget_ = true;
            return wait_until(now + *wait);
        }
        return call_action::take_connection;
    }

    /// The budget is asked elsewhere (the shared budget, in Redis): the call waits on its timer
    /// for the answer, at most until `until`, and reports budget_consulted() either way.
    void consulting_budget(time_point until) noexcept {
        phase_ = call_phase::waiting;
        wake_at_ = until;
    }
    /// The shared budget answered, or the wait for it ended, at `now`: complete (the call
    /// stopped, or its deadline passed), or reserve_budget: go on, with the answer or without.
    call_action budget_consulted(time_point now) {
        phase_ = call_phase::between;
        if (stopping()) return end(interruption());
        if (now >= deadline_) return end(errc::deadline_exceeded);
        return call_action::reserve_budget;
    }

    /// The wait for the rate limiter or for backoff ended at `now`. Woken before its time and
    /// not stopped (a wait cut short for nothing), the call waits for the rest.
    call_action woken(time_point now) {
        phase_ = call_phase::between;
        if (stopping()) return end(interruption());
        if (now < wake_at_) return wait_until(wake_at_);
        return std::exchange(waiting_for_budget_, false) ? call_action::take_connection : call_action::reserve_budget;
    }

    /// The pool has no room, even in its queue.
    call_action overflowed() { return end(errc::too_many_pending); }
    /// The call waits in the pool's queue, at most until its deadline.
    call_action queued() {
        phase_ = call_phase::queued;
        return call_action::wait_in_queue;
    }
    /// The wait in the queue ended at `now`: handed a slot (`granted`), or not. When the call
    /// stops, a slot it was handed goes on unused; woken for nothing, it waits on.
    call_action queue_woken(bool granted, time_point now) {
        phase_ = call_phase::between;
        if (granted && !stopping()) return call_action::use_slot;
        if (!granted && !stopping() && now < deadline_) return queued();
        return end(interruption());
    }

    /// The call holds a slot: a connection to reuse, or none (open one in it). When the call
    /// stops here, the slot goes back unused.
    call_action taken(bool reusing, time_point now, std::chrono::milliseconds connect_timeout) {
        if (stopping()) return end(interruption());
        // Handed a connection just as the deadline passed: no request that can only time out.
        if (now >= deadline_) return end(errc::deadline_exceeded);
        ++attempts_;
        fresh_ = false;
        timed_out_ = false;
        report_ = {};
        report_.reused = reusing;
        deadline_bound_ = deadline_ <= now + attempt_timeout_;
        attempt_expiry_ = deadline_bound_ ? deadline_ : now + attempt_timeout_;
        if (reusing) {
            phase_ = call_phase::exchanging;
            return call_action::send_request;
        }
        phase_ = call_phase::opening;
        connect_by_ = now + connect_timeout;
        return call_action::open_connection;
    }

    /// The opening ended: `ec` the transport's failure (mapped: `mapped`), if any.
    call_action opened(const boost::system::error_code& ec, error_code mapped, bool certificate_failure) {
        bool connect_timed_out = timed_out_ && connect_by_ < attempt_expiry_;
        if (!ec && !stopping() && !timed_out_) {
            phase_ = call_phase::exchanging;
            return call_action::send_request;
        }
        attempt_report& rep = report_;
        rep.certificate_failure = certificate_failure;
        rep.ec = cancel_requested_     ? error_code(boost::asio::error::operation_aborted)
                 : shut_down_          ? error_code(errc::client_shut_down)
                 : connect_timed_out   ? error_code(errc::connection_error)
                 : timed_out_          ? timeout_error()
                 : certificate_failure ? error_code(errc::tls_verification_failed)
                                       : mapped;
        if (timed_out_ && !stopping())
            rep.detail = (connect_timed_out ? std::string("no connection within connect_timeout")
                                            : std::string("no connection ") + time_limit_words()) +
                         " (" + rep.detail + ")";
        // Only now, the report made: memory running out above finds the call still opening, so
        // its connection goes back as never opened.
        phase_ = call_phase::between;
        return call_action::judge_failure;
    }

    /// The request was written, or not (`ec`).
    call_action written(const boost::system::error_code& ec, error_code mapped) {
        if (ec || stopping() || timed_out_) return exchange_failed(ec, mapped, false);
        return call_action::read_response;
    }

    /// A read completed: whether the exchange must stop here rather than parse what came. A
    /// complete answer counts even if the attempt's time ran out as it arrived.
    bool read_interrupted(const boost::system::error_code& ec) const noexcept {
        return stopping() || (ec && timed_out_);
    }

    /// The write or the read failed (or the call was interrupted meanwhile): the connection is
    /// closed and the failure judged. `got_some`: a response byte had arrived. `why` replaces
    /// the transport's words.
    call_action exchange_failed(const boost::system::error_code& ec, error_code mapped, bool got_some,
                                const char* why = nullptr) {
        phase_ = call_phase::between;
        attempt_report& rep = report_;
        rep.stale = rep.reused && !got_some && !stopping() && !timed_out_;
        rep.ec = cancel_requested_ ? error_code(boost::asio::error::operation_aborted)
                 : shut_down_      ? error_code(errc::client_shut_down)
                 : timed_out_      ? timeout_error()
                                   : mapped;
        rep.unusable = rep.ec == errc::malformed_response || rep.ec == errc::response_too_large;
        if (timed_out_ && !cancel_requested_) {
            rep.detail = std::string(got_some ? "the response did not complete " : "no response ") + time_limit_words();
        } else if (why) {
            rep.detail = why;
        } else {
            rep.detail = ec ? "reading the response: " + ec.message() : rep.ec.message();
        }
        return call_action::judge_failure;
    }

    /// A complete answer came that is not this request's (answer_binding.hpp): the connection
    /// is out of step, and nothing read on it can be trusted. It is closed and the failure is
    /// the connection's: on a reused connection the request is resent at once on a new one,
    /// with the same key, as for a stale connection.
    call_action answer_refused(const char* why) {
        phase_ = call_phase::between;
        attempt_report& rep = report_;
        rep.stale = rep.reused && !stopping() && !timed_out_;
        rep.ec = cancel_requested_ ? error_code(boost::asio::error::operation_aborted)
                 : shut_down_      ? error_code(errc::client_shut_down)
                 : timed_out_      ? timeout_error()
                                   : error_code(errc::connection_error);
        rep.detail = why;
        return call_action::judge_failure;
    }

    /// A complete answer arrived with `status`.
    call_action response_complete(unsigned status) {
        phase_ = call_phase::between;
        if (status >= 200 && status < 300) {
            phase_ = call_phase::finished;
            return call_action::deliver;
        }
        return call_action::judge_failure;
    }

    /// What follows a failed attempt, and why (what the rules decided, for stats and diagnostics).
    struct verdict {
        call_action next;
        retry_decision decision;
    };

    /// After judge_failure: go again (after a backoff), or end with `stop_with` (the attempt's
    /// error, from the report or the answer's status).
    template <class Jitter>
    verdict after_failure(const answer_facts& answer, error_code stop_with, retry_budget& budget, Jitter&& jitter,
                          time_point now) {
        attempt_outcome outcome;
        outcome.got_response = !report_.ec;
        outcome.status = answer.status;
        outcome.should_retry = answer.should_retry;
        outcome.lock_timeout = answer.lock_timeout;
        outcome.certificate_failure = report_.certificate_failure;
        outcome.caller_cancelled = report_.ec == boost::asio::error::operation_aborted ||
                                   report_.ec == errc::client_shut_down || report_.ec == errc::deadline_exceeded;
        outcome.response_unusable = report_.unusable;
        const retry_decision d = decide_after_failure(outcome, report_.stale, retries_, budget, jitter, now, deadline_);
        if (d.stale_resend) stale_resent_ = true;
        fresh_ = d.fresh;
        if (!d.again) return {end(stop_with), d};
        if (d.wait.count() > 0) return {wait_until(now + d.wait), d};
        return {call_action::reserve_budget, d};
    }

    /// The caller asked to stop (terminal or partial cancellation; the engine filters the type).
    interrupt cancel() noexcept {
        if (phase_ == call_phase::finished) return interrupt::none;
        cancel_requested_ = true;
        return pending();
    }
    /// The client shuts down.
    interrupt shutdown() noexcept {
        if (phase_ == call_phase::finished) return interrupt::none;
        shut_down_ = true;
        return pending();
    }
    /// The attempt timer found the attempt's time ended at `now`: what to interrupt, if anything.
    interrupt expire(time_point now) noexcept {
        if (timed_out_ || (phase_ != call_phase::opening && phase_ != call_phase::exchanging) || watched_expiry() > now)
            return interrupt::none;
        timed_out_ = true;
        return pending();
    }
    /// The call is ended by the engine itself (out of memory, its context gone).
    void finish() noexcept { phase_ = call_phase::finished; }

    // What the engine reads.
    call_phase phase() const noexcept { return phase_; }
    bool finished() const noexcept { return phase_ == call_phase::finished; }
    bool opening() const noexcept { return phase_ == call_phase::opening; }
    bool cancel_requested() const noexcept { return cancel_requested_; }
    bool timed_out() const noexcept { return timed_out_; }
    bool fresh() const noexcept { return fresh_; }
    time_point deadline() const noexcept { return deadline_; }
    time_point wake_at() const noexcept { return wake_at_; }
    /// When the attempt in progress runs out: its own end, or sooner while a connection opens.
    time_point watched_expiry() const noexcept {
        return phase_ == call_phase::opening ? std::min(attempt_expiry_, connect_by_) : attempt_expiry_;
    }
    unsigned attempts() const noexcept { return attempts_; }
    bool stale_resent() const noexcept { return stale_resent_; }
    attempt_report& report() noexcept { return report_; }
    const attempt_report& report() const noexcept { return report_; }
    error_code error() const noexcept { return end_ec_; }
    const char* why() const noexcept { return end_why_; }

    /// Which limit ran out, in the words of a diagnostic: the call's deadline or the attempt's time.
    const char* time_limit_words() const noexcept {
        return deadline_bound_ ? "before the call's deadline" : "within the attempt's time";
    }

private:
    bool stopping() const noexcept { return cancel_requested_ || shut_down_; }
    /// Why a call that stops waiting stops: the caller, a shutdown, or its deadline.
    error_code interruption() const noexcept {
        if (cancel_requested_) return boost::asio::error::operation_aborted;
        if (shut_down_) return errc::client_shut_down;
        return errc::deadline_exceeded;
    }
    error_code timeout_error() const noexcept {
        return deadline_bound_ ? errc::deadline_exceeded : errc::attempt_timeout;
    }
    interrupt pending() const noexcept {
        switch (phase_) {
        case call_phase::waiting:
        case call_phase::queued: return interrupt::timer;
        case call_phase::opening: return interrupt::opening;
        case call_phase::exchanging: return interrupt::exchange;
        default: return interrupt::none;
        }
    }
    call_action wait_until(time_point at) {
        phase_ = call_phase::waiting;
        wake_at_ = at;
        return call_action::wait;
    }
    call_action end(error_code ec, const char* why = nullptr) {
        phase_ = call_phase::finished;
        end_ec_ = ec;
        end_why_ = why;
        return call_action::complete;
    }

    time_point deadline_ = time_point::max();
    time_point attempt_expiry_{};
    time_point connect_by_ = time_point::max();
    time_point wake_at_{};
    std::chrono::milliseconds attempt_timeout_{};
    retry_state retries_;
    attempt_report report_;
    error_code end_ec_;
    const char* end_why_ = nullptr;
    unsigned attempts_ = 0;
    call_phase phase_ = call_phase::not_started;
    bool cancel_requested_ = false;
    bool shut_down_ = false;
    bool timed_out_ = false; ///< this attempt's time ran out
    bool deadline_bound_ = false; ///< this attempt ends at the call's deadline
    bool fresh_ = false; ///< the next attempt must not reuse a connection
    bool waiting_for_budget_ = false; ///< the wait is the rate limiter's, not backoff
    bool stale_resent_ = false;
};

} // namespace stripe_asio::detail

#endif
