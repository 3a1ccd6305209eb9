// The whole engine over its stream seam: a scripted peer in memory instead of TLS over TCP, and
// the engine's clock set by hand. No socket and no real time: timeouts, backoff, the rate
// limiter, deadlines and stale connections are driven step by step, and each test says what
// must have happened by each instant, and what must not have yet.
#include "support/manual_time.hpp"
#include "support/scripted_peer.hpp"

#include <stripe_asio/detail/io_faults.hpp>
#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <vector>
#include <string>

using namespace std::chrono_literals;
using stripe_asio::errc;
using stripe_asio::error_code;
using test::http_answer;
using test::login_link_body;
using test::manual_time;
using test::peer_reply;
using test::scripted_peer;
using test::seen_request;

namespace {

struct outcome {
    int completions = 0;
    error_code ec;
    stripe_asio::diagnostics diag;
    stripe_asio::login_link link;

    auto handler() {
        return [this](error_code e, stripe_asio::diagnostics d, stripe_asio::login_link l) {
            ++completions;
            ec = e;
            diag = std::move(d);
            link = std::move(l);
        };
    }
    bool succeeded() const { return completions == 1 && !ec; }
};

stripe_asio::config seam_config() {
    stripe_asio::config cfg;
    cfg.api_key = "sk_test_seam";
    cfg.attempt_timeout = 2s;
    cfg.connect_timeout = 1s;
    cfg.rate_budget.enabled = false; // on where the budgets are the subject
    return cfg;
}

std::optional<peer_reply> link_for(const seen_request& req) {
    return peer_reply{http_answer(req, 200, login_link_body("acct_1"))};
}

/// A client over `peer`, on the test's io_context and its manual time.
struct seam {
    explicit seam(stripe_asio::config cfg = seam_config()) : time(io), client(std::in_place, io, std::move(cfg)) {
        stripe_asio::detail::set_stream_source(*client, &peer);
    }
    ~seam() {
        client.reset();
        time.settle();
    }
    boost::asio::io_context io;
    manual_time time;
    scripted_peer peer;
    std::optional<stripe_asio::client> client;
};

/// Moves the time on in 100 ms steps until `done`, for at most `limit`.
template <class Done>
void advance_until(seam& s, Done done, std::chrono::milliseconds limit) {
    for (auto passed = 0ms; !done() && passed < limit; passed += 100ms) s.time.advance(100ms);
    CHECK(done());
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("engine seam: a call goes out as one request, its answer comes back, and the connection serves again") {
    seam s;
    s.peer.respond = link_for;
    outcome first, second;
    s.client->create_login_link("acct_1", first.handler());
    s.time.settle();
    REQUIRE(first.succeeded());
    CHECK(first.link.url == "https://connect.stripe.com/express/acct_1/test");
    REQUIRE(s.peer.requests.size() == 1);
    const seen_request req = s.peer.requests[0]; // a copy: more requests come
    CHECK(req.message.method_string() == "POST");
    CHECK(req.message.target() == "/v1/accounts/acct_1/login_links");
    CHECK(req.header("Authorization") == "Bearer sk_test_seam");
    CHECK(req.header("Idempotency-Key").size() == 36);
    CHECK(first.link.meta.idempotency_key.view() == req.header("Idempotency-Key"));

    s.client->create_login_link("acct_1", second.handler());
    s.time.settle();
    REQUIRE(second.succeeded());
    CHECK(s.peer.streams_made() == 1);
    CHECK(s.client->stats().connection_reuses == 1);
    CHECK(s.peer.requests[1].header("Idempotency-Key") != req.header("Idempotency-Key"));
}

TEST_CASE("engine seam: an attempt with no answer ends at attempt_timeout, not before, and the retry sends the same "
          "key after its backoff, on a new connection") {
    seam s;
    int seen = 0;
    s.peer.respond = [&](const seen_request& req) -> std::optional<peer_reply> {
        if (++seen == 1) return std::nullopt; // the first attempt gets no answer
        return link_for(req);
    };
    outcome o;
    s.client->create_login_link("acct_1", o.handler());
    s.time.settle();
    REQUIRE(s.peer.requests.size() == 1);
    s.time.advance(1999ms);
    CHECK(o.completions == 0);
    s.time.advance(1ms); // the attempt's 2 s are up; the retry waits at least initial_delay (500 ms)
    CHECK(o.completions == 0);
    CHECK(s.peer.requests.size() == 1);
    s.time.advance(499ms);
    CHECK(s.peer.requests.size() == 1);
    advance_until(
        s, [&] { return s.peer.requests.size() == 2; }, 5s);
    REQUIRE(o.succeeded());
    CHECK(s.peer.requests[1].header("Idempotency-Key") == s.peer.requests[0].header("Idempotency-Key"));
    CHECK(s.peer.requests[1].stream == 1); // the timed-out connection was closed
    CHECK(o.link.meta.attempts == 2);
    CHECK(s.client->stats().retries == 1);
}

TEST_CASE("engine seam: a 500 is retried after its backoff on the same connection; a plain 429 is not retried") {
    seam s;
    int seen = 0;
    s.peer.respond = [&](const seen_request& req) -> std::optional<peer_reply> {
        if (++seen == 1) return peer_reply{http_answer(req, 500, R"({"error":{"type":"api_error"}})")};
        if (seen == 3) return peer_reply{http_answer(req, 429, R"({"error":{"type":"invalid_request_error"}})")};
        return link_for(req);
    };
    outcome retried, limited;
    s.client->create_login_link("acct_1", retried.handler());
    s.time.settle();
    CHECK(retried.completions == 0);
    s.time.advance(499ms);
    CHECK(s.peer.requests.size() == 1);
    advance_until(
        s, [&] { return retried.completions == 1; }, 5s);
    REQUIRE(retried.succeeded());
    REQUIRE(s.peer.requests.size() == 2);
    CHECK(s.peer.requests[1].stream == 0);
    CHECK(s.peer.requests[1].header("Idempotency-Key") == s.peer.requests[0].header("Idempotency-Key"));

    s.client->create_login_link("acct_1", limited.handler());
    s.time.settle();
    REQUIRE(limited.completions == 1);
    CHECK(limited.ec == errc::rate_limit);
    CHECK(limited.diag.http_status == 429);
    s.time.advance(10s);
    CHECK(s.peer.requests.size() == 3);
}

TEST_CASE("engine seam: the rate limiter holds a call until its token is due, to the tick") {
    auto cfg = seam_config();
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.headroom = 1; // the configured rates exactly, to the tick
    cfg.rate_budget.account_per_second = 2; // one every 500 ms
    cfg.rate_budget.burst = 1;
    seam s(cfg);
    s.peer.respond = link_for;
    outcome a, b;
    s.client->create_login_link("acct_1", a.handler());
    s.client->create_login_link("acct_1", b.handler());
    s.time.settle();
    CHECK(a.succeeded());
    CHECK(b.completions == 0);
    CHECK(s.peer.requests.size() == 1);
    s.time.advance(499ms);
    CHECK(s.peer.requests.size() == 1);
    s.time.advance(1ms);
    CHECK(b.succeeded());
    CHECK(s.peer.requests.size() == 2);
    CHECK(s.client->stats().rate_limited_waits == 1);
    CHECK(s.client->stats().budget_waiters == 0);
}

TEST_CASE("engine seam: a call whose budget has room only after its deadline fails at once, sends nothing and takes "
          "nothing") {
    auto cfg = seam_config();
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.headroom = 1; // the configured rates exactly, to the tick
    cfg.rate_budget.account_per_second = 1;
    seam s(cfg);
    s.peer.respond = link_for;
    outcome first, hurried, patient;
    s.client->create_login_link("acct_1", first.handler());
    stripe_asio::request_options options;
    options.call_timeout = 500ms;
    s.client->create_login_link("acct_1", options, hurried.handler());
    s.time.settle(); // no time passes
    CHECK(first.succeeded());
    REQUIRE(hurried.completions == 1);
    CHECK(hurried.ec == errc::rate_budget_exhausted);
    CHECK(hurried.diag.rate_budget_wait == 1000ms);
    CHECK(hurried.diag.attempts == 0);
    CHECK(s.peer.requests.size() == 1);
    CHECK(s.client->stats().rate_budget_exhausted == 1);
    s.client->create_login_link("acct_1", patient.handler());
    s.time.advance(999ms);
    CHECK(s.peer.requests.size() == 1);
    s.time.advance(1ms); // the refused call took no room: the next one waits 1 s, not 2
    CHECK(patient.succeeded());
}

TEST_CASE("engine seam: rate_budget.max_wait refuses a longer wait at once, however far the deadline") {
    auto cfg = seam_config();
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.headroom = 1; // the configured rates exactly, to the tick
    cfg.rate_budget.account_per_second = 2; // one every 500 ms
    cfg.rate_budget.max_wait = 600ms;
    seam s(cfg);
    s.peer.respond = link_for;
    outcome a, b, c;
    s.client->create_login_link("acct_1", a.handler());
    s.client->create_login_link("acct_1", b.handler()); // waits 500 ms
    s.client->create_login_link("acct_1", c.handler()); // would wait 1 s
    s.time.settle();
    CHECK(a.succeeded());
    CHECK(b.completions == 0);
    REQUIRE(c.completions == 1);
    CHECK(c.ec == errc::rate_budget_exhausted);
    CHECK(c.diag.rate_budget_wait == 1000ms);
    s.time.advance(500ms);
    CHECK(b.succeeded());
}

TEST_CASE("engine seam: calls waiting for the budget are bounded by max_pending") {
    auto cfg = seam_config();
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.headroom = 1; // the configured rates exactly, to the tick
    cfg.rate_budget.account_per_second = 1;
    cfg.max_pending = 1;
    seam s(cfg);
    s.peer.respond = link_for;
    outcome a, b, c;
    s.client->create_login_link("acct_1", a.handler());
    s.client->create_login_link("acct_1", b.handler());
    s.client->create_login_link("acct_1", c.handler());
    s.time.settle();
    CHECK(a.succeeded());
    CHECK(b.completions == 0);
    CHECK(s.client->stats().budget_waiters == 1);
    REQUIRE(c.completions == 1);
    CHECK(c.ec == errc::rate_budget_exhausted);
    s.time.advance(1s);
    CHECK(b.succeeded());
    CHECK(s.client->stats().budget_waiters == 0);
}

TEST_CASE("engine seam: a 429 for the endpoint's rate is not retried, says why, and its budget backs off") {
    auto cfg = seam_config();
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.headroom = 1; // the configured rates exactly, to the tick
    cfg.rate_budget.account_per_second = 100;
    cfg.rate_budget.endpoint_per_second = 10; // one every 100 ms
    cfg.rate_budget.backoff_factor = 0.5;
    cfg.rate_budget.recovery_per_second = 0.1;
    seam s(cfg);
    int seen = 0;
    s.peer.respond = [&](const seen_request& req) -> std::optional<peer_reply> {
        if (++seen == 1)
            return peer_reply{http_answer(req, 429, R"({"error":{"type":"invalid_request_error","code":"rate_limit"}})",
                                          "Stripe-Rate-Limited-Reason: endpoint-rate\r\n")};
        return link_for(req);
    };
    outcome limited, b, c;
    s.client->create_login_link("acct_1", limited.handler());
    s.time.settle();
    REQUIRE(limited.completions == 1);
    CHECK(limited.ec == errc::rate_limit);
    CHECK(limited.diag.rate_limited_reason == stripe_asio::rate_limit_reason::endpoint_rate);
    CHECK(limited.diag.to_string().find("rate_limited_reason=endpoint-rate") != std::string::npos);
    auto stats = s.client->stats();
    CHECK(stats.rate_limited_answers == 1);
    CHECK(stats.rate_limited_endpoint_rate == 1);
    CHECK(stats.rate_limited_global_rate == 0);
    // The endpoint's budget is now 5/s: b goes when the 100 ms of the first are up, c 200 ms later.
    s.client->create_login_link("acct_1", b.handler());
    s.client->create_login_link("acct_1", c.handler());
    s.time.settle(); // both reserve now, while the cut is fresh
    s.time.advance(100ms);
    CHECK(b.succeeded());
    s.time.advance(199ms);
    CHECK(c.completions == 0);
    s.time.advance(1ms);
    CHECK(c.succeeded());
    CHECK(s.peer.requests.size() == 3);
}

TEST_CASE("engine seam: an idle connection the peer closed is replaced before use, not written to") {
    seam s;
    s.peer.respond = link_for;
    outcome a, b;
    s.client->create_login_link("acct_1", a.handler());
    s.time.settle();
    REQUIRE(a.succeeded());
    s.peer.close(0);
    s.client->create_login_link("acct_1", b.handler());
    s.time.settle();
    REQUIRE(b.succeeded());
    CHECK(s.peer.streams_made() == 2);
    CHECK(s.peer.requests[1].stream == 1);
    CHECK(s.client->stats().stale_detected_before_use == 1);
    CHECK(s.client->stats().stale_resends == 0);
}

TEST_CASE("engine seam: a reused connection dropped after the request is resent once, at once, with the same key") {
    seam s;
    int seen = 0;
    s.peer.respond = [&](const seen_request& req) -> std::optional<peer_reply> {
        if (++seen == 2) return peer_reply{"", true}; // read, then closed without an answer
        return link_for(req);
    };
    outcome a, b;
    s.client->create_login_link("acct_1", a.handler());
    s.time.settle();
    REQUIRE(a.succeeded());
    s.client->create_login_link("acct_1", b.handler());
    s.time.settle(); // no time passes: a stale resend waits for no backoff
    REQUIRE(b.succeeded());
    REQUIRE(s.peer.requests.size() == 3);
    CHECK(s.peer.requests[1].stream == 0);
    CHECK(s.peer.requests[2].stream == 1);
    CHECK(s.peer.requests[2].header("Idempotency-Key") == s.peer.requests[1].header("Idempotency-Key"));
    CHECK(s.client->stats().stale_resends == 1);
    CHECK(s.client->stats().retries == 0);
}

TEST_CASE("engine seam: a call's deadline ends its wait in the queue at the deadline; the call ahead is untouched") {
    auto cfg = seam_config();
    cfg.max_connections = 1;
    seam s(cfg);
    outcome ahead, queued;
    s.client->create_login_link("acct_1", ahead.handler()); // no answer yet
    stripe_asio::request_options options;
    options.call_timeout = 1s;
    s.client->create_login_link("acct_1", options, queued.handler());
    s.time.settle();
    CHECK(s.client->stats().waiters == 1);
    s.time.advance(999ms);
    CHECK(queued.completions == 0);
    s.time.advance(1ms);
    REQUIRE(queued.completions == 1);
    CHECK(queued.ec == errc::deadline_exceeded);
    CHECK(s.client->stats().waiters == 0);
    CHECK(ahead.completions == 0);
    REQUIRE(s.peer.requests.size() == 1);
    s.peer.send(0, http_answer(s.peer.requests[0], 200, login_link_body("acct_1")));
    s.time.settle();
    CHECK(ahead.succeeded());
}

TEST_CASE("engine seam: an opening that hangs is cut at connect_timeout") {
    auto cfg = seam_config();
    cfg.retry.max_retries = 0;
    seam s(cfg);
    s.peer.hold_opens = true;
    outcome o;
    s.client->create_login_link("acct_1", o.handler());
    s.time.settle();
    s.time.advance(999ms);
    CHECK(o.completions == 0);
    s.time.advance(1ms);
    REQUIRE(o.completions == 1);
    CHECK(o.ec == errc::connection_error); // the server could not be reached in time
    CHECK(o.diag.detail.find("connect_timeout") != std::string::npos);
    CHECK(s.peer.streams_opened() == 0);
    CHECK(s.peer.requests.empty());
    auto stats = s.client->stats();
    CHECK(stats.open_connections == 0);
    CHECK(stats.connect_failures == 1);
}

TEST_CASE("engine seam: a shutdown ends a call waiting for its answer, once") {
    seam s;
    outcome o;
    s.client->create_login_link("acct_1", o.handler());
    s.time.settle();
    REQUIRE(s.peer.requests.size() == 1);
    s.client.reset();
    s.time.settle();
    CHECK(o.completions == 1);
    CHECK(o.ec == errc::client_shut_down);
}

TEST_CASE("engine seam: a fault at every I/O point of a retried call and the call after it, with no socket") {
    using stripe_asio::detail::io_faults;
    using stripe_asio::detail::io_point;
    std::vector<io_point> faulted;
    for (std::size_t n = 0;; ++n) {
        REQUIRE(n < 100);
        CAPTURE(n);
        seam s;
        int seen = 0;
        s.peer.respond = [&](const seen_request& req) -> std::optional<peer_reply> {
            if (++seen == 1) return peer_reply{http_answer(req, 500, R"({"error":{"type":"api_error"}})")};
            return link_for(req);
        };
        io_faults plan;
        plan.fail_at = n;
        stripe_asio::detail::set_io_faults(*s.client, &plan);
        outcome a, b;
        s.client->create_login_link("acct_1", a.handler());
        s.time.settle();
        advance_until(
            s, [&] { return a.completions == 1; }, 10s);
        s.client->create_login_link("acct_1", b.handler());
        s.time.settle();
        advance_until(
            s, [&] { return b.completions == 1; }, 10s);
        CHECK(a.completions == 1);
        CHECK(b.completions == 1);
        auto stats = s.client->stats();
        CHECK(stats.calls_in_flight == 0);
        CHECK(stats.waiters == 0);
        CHECK(stats.open_connections == stats.idle_connections);
        if (!plan.fired) { // untouched: both succeed as with no fault at all
            CHECK(a.succeeded());
            CHECK(b.succeeded());
            break;
        }
        faulted.push_back(plan.fired_at);
        CAPTURE(stripe_asio::detail::name(plan.fired_at));
        // A failed write or read is retried (same key); only the call it hit can fail.
        for (const outcome* o : {&a, &b})
            if (o->ec) CHECK((o->ec == errc::connection_error || o->ec == errc::api_error));
    }
    // Every kind of operation the two calls make was faulted: the opening, writes, reads, and
    // the backoff's wait.
    for (io_point p : {io_point::connect, io_point::write, io_point::read, io_point::wait}) {
        CAPTURE(stripe_asio::detail::name(p));
        CHECK(std::find(faulted.begin(), faulted.end(), p) != faulted.end());
    }
}

} // TEST_SUITE("unit")
