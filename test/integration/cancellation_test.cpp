// Per-operation cancellation and client shutdown, at every stage of a call.
#include "integration/fixture.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>

using namespace test;
using stripe_asio::errc;

namespace {

/// Polls `ready` on the io_context (1 ms timer steps, bounded), then runs `then`. Used to act at a
/// precise stage of a call that another thread (the server) reports.
asio::awaitable<void> when(std::function<bool()> ready, std::function<void()> then) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 5000 && !ready(); ++i) {
        t.expires_after(1ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    REQUIRE(ready());
    then();
}

/// Starts a call bound to `signal`; stores its outcome.
void start_call(stripe_asio::client& client, asio::cancellation_signal& signal, call_result& out, bool& done,
                std::string account = "acct_1032D82eZvKYlo2C") {
    client.create_login_link(account,
                             asio::bind_cancellation_slot(signal.slot(), [&out, &done](auto ec, auto diag, auto link) {
                                 out = {ec, std::move(diag), std::move(link)};
                                 done = true;
                             }));
}

} // namespace

TEST_SUITE("integration") {

TEST_CASE("cancelling while the server holds the response ends the call; the client keeps serving") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial}) {
        CAPTURE(int(type));
        server.push(fault::with(fault::action::hang));
        asio::cancellation_signal signal;
        call_result out;
        bool done = false;
        auto before = server.request_count();
        start_call(client, signal, out, done);
        asio::co_spawn(ioc, when([&] { return server.request_count() > before; }, [&] { signal.emit(type); }),
                       asio::detached);
        ioc.restart();
        ioc.run();
        REQUIRE(done);
        CHECK(std::get<0>(out) == asio::error::operation_aborted);
        CHECK(std::get<1>(out).attempts == 1);
        CHECK(std::get<1>(out).idempotency_key.size() == 36); // to look the call up, if it landed
    }
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK_SUCCEEDED(ec, diag);
    CHECK(client.stats().calls_in_flight == 0);
}

TEST_CASE("cancelling a caller that waits for a pooled connection removes it at once") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections = 1;
    cfg.attempt_timeout = 300ms;
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    server.push(fault::with(fault::action::hang));
    asio::cancellation_signal busy_signal, waiter_signal;
    call_result busy, waiter;
    bool busy_done = false, waiter_done = false;
    start_call(client, busy_signal, busy, busy_done);
    start_call(client, waiter_signal, waiter, waiter_done);
    asio::co_spawn(ioc,
                   when([&] { return server.request_count() == 1 && client.stats().waiters == 1; },
                        [&] { waiter_signal.emit(asio::cancellation_type::terminal); }),
                   asio::detached);
    ioc.run();
    CHECK(waiter_done);
    CHECK(std::get<0>(waiter) == asio::error::operation_aborted);
    CHECK(std::get<1>(waiter).attempts == 0); // it never sent anything
    CHECK(busy_done);
    CHECK(std::get<0>(busy) == errc::attempt_timeout);
    CHECK(client.stats().waiters == 0);
    CHECK(server.request_count() == 1); // the cancelled caller never sent anything
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK_SUCCEEDED(ec, diag);
}

TEST_CASE("a waiter times out at its deadline, and max_pending bounds the queue") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections = 1;
    cfg.max_pending = 1;
    cfg.attempt_timeout = 400ms;
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    server.push(fault::with(fault::action::hang));
    std::vector<stripe_asio::error_code> results(3);
    stripe_asio::request_options short_deadline;
    short_deadline.call_timeout = 100ms;
    client.create_login_link("acct_1", [&](auto ec, auto, auto) { results[0] = ec; });
    client.create_login_link("acct_2", short_deadline, [&](auto ec, auto, auto) { results[1] = ec; });
    client.create_login_link("acct_3", [&](auto ec, auto, auto) { results[2] = ec; });
    ioc.run();
    CHECK(results[0] == errc::attempt_timeout);
    CHECK(results[1] == errc::deadline_exceeded);
    CHECK(results[2] == errc::too_many_pending);
}

TEST_CASE("cancelling during the TLS handshake with a silent peer") {
    // A TCP listener that accepts and never speaks TLS: the call is stuck in the handshake.
    asio::io_context ioc;
    asio::ip::tcp::acceptor silent(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket accepted(ioc);
    bool accepted_one = false;
    silent.async_accept(accepted, [&](auto ec) { accepted_one = !ec; });

    fake_stripe server; // only for its CA
    auto cfg = config_for(server);
    cfg.base_url = "https://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
    stripe_asio::client client(ioc, cfg);
    asio::cancellation_signal signal;
    call_result out;
    bool done = false;
    start_call(client, signal, out, done);
    asio::co_spawn(ioc, when([&] { return accepted_one; }, [&] { signal.emit(asio::cancellation_type::terminal); }),
                   asio::detached);
    ioc.run();
    REQUIRE(done);
    CHECK(std::get<0>(out) == asio::error::operation_aborted);
    CHECK(client.stats().open_connections == 0);
}

TEST_CASE("cancelling during the backoff wait ends the call at once") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.initial_delay = 30s;
    cfg.retry.max_delay = 30s;
    stripe_asio::client client(ioc, cfg);
    server.push(fault::stripe_error(500, "api_error"));
    asio::cancellation_signal signal;
    call_result out;
    bool done = false;
    auto start = std::chrono::steady_clock::now();
    start_call(client, signal, out, done);
    asio::co_spawn(
        ioc, when([&] { return client.stats().retries == 1; }, [&] { signal.emit(asio::cancellation_type::terminal); }),
        asio::detached);
    ioc.run();
    REQUIRE(done);
    CHECK(std::get<0>(out) == asio::error::operation_aborted);
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    CHECK(server.request_count() == 1);
}

TEST_CASE("awaitable operators: a timer race cancels the call") {
    using namespace asio::experimental::awaitable_operators;
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    server.push(fault::with(fault::action::hang));
    run(ioc, [](stripe_asio::client& c) -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
        auto r = co_await (c.create_login_link("acct_1032D82eZvKYlo2C", asio::as_tuple(asio::use_awaitable)) ||
                           timer.async_wait(asio::use_awaitable));
        CHECK(r.index() == 1);
        // The next call goes through.
        auto link = co_await c.create_login_link("acct_1032D82eZvKYlo2C");
        CHECK(!link.url.empty());
    }(client));
}

TEST_CASE("a cancellation emitted right after initiation ends the call and returns its slot") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections = 1;
    for (bool thread_safe : {true, false}) {
        CAPTURE(thread_safe);
        cfg.thread_safe = thread_safe;
        stripe_asio::client client(ioc, cfg);
        for (int i = 0; i < 3; ++i) { // more than max_connections: a leaked slot would hang the next
            asio::cancellation_signal signal;
            call_result out;
            bool done = false;
            start_call(client, signal, out, done);
            signal.emit(asio::cancellation_type::terminal);
            ioc.restart();
            ioc.run();
            REQUIRE(done);
            CHECK(std::get<0>(out) == asio::error::operation_aborted);
        }
        auto [ec, diag, link] = make_link(ioc, client);
        CHECK_SUCCEEDED(ec, diag);
        CHECK(client.stats().calls_in_flight == 0);
    }
}

TEST_CASE("a call refused at once never completes inside the initiating function") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.thread_safe = false; // the case where co_spawn may start the call inline
    cfg.max_connections = 1;
    cfg.max_pending = 0;
    cfg.attempt_timeout = 300ms;
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    server.push(fault::with(fault::action::hang));
    bool inside = false, overflow_inline = false, bad_input_inline = false;
    stripe_asio::error_code overflow_ec, bad_ec;
    asio::post(ioc, [&] {
        client.create_login_link("acct_1", [](auto, auto, auto) {});
        inside = true;
        client.create_login_link("acct_2", [&](auto ec, auto, auto) {
            overflow_ec = ec;
            overflow_inline = inside;
        });
        client.create_login_link("bad id", [&](auto ec, auto, auto) {
            bad_ec = ec;
            bad_input_inline = inside;
        });
        inside = false;
    });
    ioc.run();
    CHECK(overflow_ec == errc::too_many_pending);
    CHECK(bad_ec == errc::invalid_account_id);
    CHECK_FALSE(overflow_inline);
    CHECK_FALSE(bad_input_inline);
}

TEST_CASE("destroying the client completes calls in flight with client_shut_down") {
    fake_stripe server;
    asio::io_context ioc;
    auto client = std::make_unique<stripe_asio::client>(ioc, config_for(server));
    server.script({fault::with(fault::action::hang)});
    std::vector<stripe_asio::error_code> results;
    for (int i = 0; i < 3; ++i)
        client->create_login_link("acct_1032D82eZvKYlo2C", [&](auto ec, auto, auto) { results.push_back(ec); });
    asio::co_spawn(ioc, when([&] { return server.request_count() >= 1; }, [&] { client.reset(); }), asio::detached);
    ioc.run();
    REQUIRE(results.size() == 3);
    // The hung one is cut off; the others either finished before the shutdown or were stopped.
    int shut_down = 0;
    for (auto& ec : results) {
        CHECK((!ec || ec == errc::client_shut_down));
        shut_down += ec == errc::client_shut_down;
    }
    CHECK(shut_down >= 1);
}

TEST_CASE("an execution context destroyed with calls in flight frees them all, handlers never run") {
    fake_stripe server;
    server.script(std::vector<fault>(10, fault::with(fault::action::hang)));
    auto token = std::make_shared<int>(0); // every handler holds a copy
    bool handler_ran = false;
    {
        asio::io_context ioc;
        auto cfg = config_for(server);
        cfg.max_connections = 2;
        auto client = std::make_unique<stripe_asio::client>(ioc, cfg);
        // Two calls in a hung exchange, eight waiting for a connection.
        for (int i = 0; i < 10; ++i)
            client->create_login_link("acct_1032D82eZvKYlo2C",
                                      [token, &handler_ran](auto, auto, auto) { handler_ran = true; });
        auto give_up = std::chrono::steady_clock::now() + 10s;
        while (server.request_count() < 2 && std::chrono::steady_clock::now() < give_up) ioc.run_one_for(10ms);
        REQUIRE(server.request_count() == 2);
        CHECK(token.use_count() == 11);
        client.reset(); // its shutdown is posted, and never runs
    }
    CHECK_FALSE(handler_ran);
    CHECK(token.use_count() == 1);
}

TEST_CASE("calls started on an execution context that never runs are freed with it") {
    fake_stripe server;
    auto token = std::make_shared<int>(0);
    {
        asio::io_context ioc;
        stripe_asio::client client(ioc, config_for(server));
        for (int i = 0; i < 3; ++i) client.create_login_link("acct_1032D82eZvKYlo2C", [token](auto, auto, auto) {});
        CHECK(token.use_count() == 4);
    }
    CHECK(token.use_count() == 1);
}

TEST_CASE("a cancellation before the call's first step sends nothing, even with an idle connection") {
    for (bool thread_safe : {false, true}) {
        INFO("thread_safe: ", thread_safe);
        fake_stripe server;
        asio::io_context ioc;
        auto cfg = config_for(server);
        cfg.thread_safe = thread_safe;
        stripe_asio::client client(ioc, cfg);
        REQUIRE(!std::get<0>(make_link(ioc, client))); // leaves an idle connection
        REQUIRE(server.request_count() == 1);
        // The context is not running: the first step is queued, and the cancellation comes first.
        asio::cancellation_signal signal;
        std::optional<stripe_asio::error_code> result;
        client.create_login_link(
            "acct_1032D82eZvKYlo2C",
            asio::bind_cancellation_slot(signal.slot(), [&](auto ec, auto, auto) { result = ec; }));
        signal.emit(asio::cancellation_type::terminal);
        ioc.restart();
        ioc.run();
        REQUIRE(result);
        CHECK(*result == asio::error::operation_aborted);
        CHECK(server.request_count() == 1);
    }
}

} // TEST_SUITE("integration")
