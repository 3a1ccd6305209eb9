// A fault at every I/O point. For a plain call, a retried call, a cancelled call and a call
// during shutdown, the Nth I/O operation the client starts (name lookup, connect, TLS
// handshake, write, read, a call's timer wait) fails, or has a cancellation or a shutdown
// arrive while it is pending, for N = 0, 1, 2... until a run goes by untouched. Every run: each
// call completes exactly once, with an error its fault explains or after the right retry; no
// call, slot or connection is left held; the io_context runs out of work (nothing hangs). Under
// ASan (scripts/test.sh) the same runs show nothing leaks.
#include "integration/fixture.hpp"

#include <stripe_asio/detail/io_faults.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

using namespace test;
using stripe_asio::errc;
using stripe_asio::error_code;
using stripe_asio::detail::io_faults;
using stripe_asio::detail::io_point;

namespace {

enum class interference { fail, cancel, shut_down };

struct call_outcome {
    std::size_t first_operation = 0; ///< the index of the call's first I/O operation
    int completions = 0;
    error_code ec;
    stripe_asio::diagnostics diag;
    stripe_asio::login_link link;
};

struct run_report {
    std::size_t fault_index = 0;
    bool fired = false;
    io_point fired_at{};
    std::vector<call_outcome> calls;
};

/// One run on a fresh client: `calls` login links one after the other, the `n`th I/O operation
/// interfered with as `how` says.
run_report run_once(fake_stripe& server, stripe_asio::config cfg, std::size_t n, interference how, int calls,
                    const std::vector<fault>& script, bool concurrent) {
    server.script(script);
    asio::io_context ioc;
    std::optional<stripe_asio::client> client(std::in_place, ioc, cfg);
    asio::cancellation_signal signal;
    io_faults plan;
    plan.fail_at = n;
    if (how == interference::cancel)
        plan.hook = [&](io_point) { asio::post(ioc, [&] { signal.emit(asio::cancellation_type::terminal); }); };
    if (how == interference::shut_down) plan.hook = [&](io_point) { asio::post(ioc, [&] { client.reset(); }); };
    stripe_asio::detail::set_io_faults(*client, &plan);

    run_report report;
    report.calls.resize(static_cast<std::size_t>(calls));
    std::function<void(std::size_t)> start = [&](std::size_t i) {
        if (i == report.calls.size() || !client) return;
        report.calls[i].first_operation = plan.started;
        client->create_login_link(
            "acct_1032D82eZvKYlo2C",
            asio::bind_cancellation_slot(
                signal.slot(), [&, i](error_code ec, stripe_asio::diagnostics diag, stripe_asio::login_link link) {
                    call_outcome& o = report.calls[i];
                    ++o.completions;
                    o.ec = ec;
                    o.diag = std::move(diag);
                    o.link = std::move(link);
                    if (!concurrent) start(i + 1);
                }));
    };
    if (concurrent) {
        for (std::size_t i = 0; i < report.calls.size(); ++i) start(i);
    } else {
        start(0);
    }
    ioc.run_for(20s); // a bound, not a wait: it returns once the calls are done
    if (client) {
        auto s = client->stats();
        CHECK(s.calls_in_flight == 0);
        CHECK(s.waiters == 0);
        CHECK(s.open_connections == s.idle_connections); // no connection held by a finished call
        CHECK(s.calls_started == s.calls_succeeded + s.calls_failed);
        client.reset();
    }
    ioc.restart();
    ioc.run_for(20s);
    CHECK(ioc.stopped()); // no operation left behind
    report.fired = plan.fired;
    report.fired_at = plan.fired_at;
    return report;
}

/// Walks N = 0, 1, 2... until the fault is never reached; `check` judges each faulted run.
/// Returns the points that were faulted, in order.
std::vector<io_point> walk(fake_stripe& server, const stripe_asio::config& cfg, interference how, int calls,
                           const std::vector<fault>& script, const std::function<void(const run_report&)>& check,
                           bool concurrent = false) {
    std::vector<io_point> points;
    for (std::size_t n = 0;; ++n) {
        REQUIRE(n < 200); // bounded: a call makes a few dozen operations at most
        CAPTURE(n);
        run_report r = run_once(server, cfg, n, how, calls, script, concurrent);
        for (const call_outcome& o : r.calls) CHECK(o.completions <= 1); // never twice
        if (!r.fired) { // untouched: every call succeeds as it would with no fault at all
            for (const call_outcome& o : r.calls) CHECK_SUCCEEDED(o.ec, o.diag);
            return points;
        }
        points.push_back(r.fired_at);
        CAPTURE(stripe_asio::detail::name(r.fired_at));
        r.fault_index = n;
        check(r);
    }
}

stripe_asio::config by_name(const fake_stripe& server) {
    auto cfg = config_for(server);
    // By name, so the lookup is an operation too (the certificate names localhost).
    cfg.base_url = "https://localhost:" + std::to_string(server.port());
    cfg.retry.initial_delay = 1ms;
    cfg.retry.max_delay = 1ms;
    return cfg;
}

bool has(const std::vector<io_point>& points, io_point p) {
    return std::find(points.begin(), points.end(), p) != points.end();
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("fault loop: two plain calls, no retries: a failed operation fails one call, typed, or is resent once") {
    fake_stripe server;
    for (bool thread_safe : {true, false}) {
        CAPTURE(thread_safe);
        auto cfg = by_name(server);
        cfg.thread_safe = thread_safe;
        cfg.retry.max_retries = 0;
        auto points = walk(server, cfg, interference::fail, 2, {}, [](const run_report& r) {
            int failed = 0;
            for (const call_outcome& o : r.calls) {
                CHECK(o.completions == 1);
                if (!o.ec) continue;
                ++failed;
                CHECK(o.ec == errc::connection_error);
                CHECK(o.diag.attempts == 1);
            }
            CHECK(failed <= 1);
            // The second call reuses the connection: its write failing there, before any answer
            // byte, is a stale connection, resent once on a new one even with no retries.
            const call_outcome& second = r.calls[1];
            if (r.fault_index == second.first_operation) {
                CHECK(r.fired_at == io_point::write);
                CHECK_SUCCEEDED(second.ec, second.diag);
                CHECK(second.link.meta.attempts == 2);
                CHECK(second.link.meta.stale_connection_retried);
            }
        });
        for (io_point p : {io_point::resolve, io_point::connect, io_point::handshake, io_point::write, io_point::read})
            CHECK_MESSAGE(has(points, p), stripe_asio::detail::name(p));
    }
}

TEST_CASE("fault loop: two calls sharing one connection: the one in the queue waits on through a wake for nothing") {
    fake_stripe server;
    auto cfg = by_name(server);
    cfg.max_connections = 1;
    cfg.retry.max_retries = 0;
    auto points = walk(
        server, cfg, interference::fail, 2, {},
        [](const run_report& r) {
            int failed = 0;
            for (const call_outcome& o : r.calls) {
                CHECK(o.completions == 1);
                if (!o.ec) continue;
                ++failed;
                CHECK(o.ec == errc::connection_error); // never deadline_exceeded: there is no deadline
            }
            CHECK(failed <= 1);
            if (r.fired_at == io_point::wait) CHECK(failed == 0);
        },
        true);
    CHECK(has(points, io_point::wait));
}

TEST_CASE("fault loop: a retried call (a 500 first) still succeeds with one more attempt at most") {
    fake_stripe server;
    auto cfg = by_name(server);
    auto points =
        walk(server, cfg, interference::fail, 1, {fault::stripe_error(500, "api_error")}, [](const run_report& r) {
            const call_outcome& o = r.calls[0];
            CHECK(o.completions == 1);
            CHECK_SUCCEEDED(o.ec, o.diag);
            CHECK(o.link.meta.attempts >= 2);
            CHECK(o.link.meta.attempts <= 3);
        });
    CHECK(has(points, io_point::wait)); // the backoff: woken early for nothing, it waits on
    CHECK(has(points, io_point::write));
}

TEST_CASE("fault loop: a call cancelled while each operation is pending ends aborted, once") {
    fake_stripe server;
    auto cfg = by_name(server);
    walk(server, cfg, interference::cancel, 1, {fault::stripe_error(500, "api_error")}, [](const run_report& r) {
        const call_outcome& o = r.calls[0];
        CHECK(o.completions == 1);
        // The answer may win the race with the cancellation: then the call has succeeded.
        if (o.ec) CHECK(o.ec == asio::error::operation_aborted);
    });
}

TEST_CASE("fault loop: a client shut down while each operation is pending ends its call, once") {
    fake_stripe server;
    auto cfg = by_name(server);
    walk(server, cfg, interference::shut_down, 2, {fault::stripe_error(500, "api_error")}, [](const run_report& r) {
        bool shut = false;
        for (const call_outcome& o : r.calls) {
            if (o.completions == 0) {
                CHECK(shut); // a call after the shutdown is never made
                continue;
            }
            if (o.ec) {
                CHECK(o.ec == errc::client_shut_down);
                shut = true;
            }
        }
    });
}

} // TEST_SUITE("integration")
