// One client shared by the threads of a thread pool or of an io_context. Built and run under
// ThreadSanitizer too.
#include "integration/fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace test;

TEST_SUITE("threads") {

TEST_CASE("8 threads share one client: every call completes, on the pool, within the limits") {
    fake_stripe::options opts;
    opts.record_requests = false;
    fake_stripe server(opts);
    asio::thread_pool pool(8);
    auto cfg = config_for(server);
    cfg.max_connections = 8;
    auto client = std::make_unique<stripe_asio::client>(pool.get_executor(), cfg);
    constexpr int callers = 64, calls_each = 25;
    std::atomic<int> ok{0}, failed{0};
    std::mutex m;
    std::set<std::thread::id> handler_threads;
    for (int i = 0; i < callers; ++i) {
        asio::co_spawn(
            pool,
            [&]() -> asio::awaitable<void> {
                for (int j = 0; j < calls_each; ++j) {
                    auto [ec, diag, link] = co_await client->create_login_link("acct_1032D82eZvKYlo2C",
                                                                               asio::as_tuple(asio::use_awaitable));
                    (!ec && !link.url.empty() ? ok : failed)++;
                    std::lock_guard lock(m);
                    handler_threads.insert(std::this_thread::get_id());
                }
            },
            asio::detached);
    }
    // Stats are readable from any thread while the calls run.
    for (int i = 0; i < 100 && ok + failed < callers * calls_each; ++i) {
        auto s = client->stats();
        CHECK(s.open_connections <= 8);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pool.wait();
    CHECK(ok == callers * calls_each);
    CHECK(failed == 0);
    CHECK(server.max_connections_open() <= 8);
    CHECK(handler_threads.count(std::this_thread::get_id()) == 0);
    client.reset();
}

TEST_CASE("an io_context run by 4 threads: calls, attempt timeouts and cancellations race safely") {
    using namespace asio::experimental::awaitable_operators;
    fake_stripe::options opts;
    opts.record_requests = false;
    fake_stripe server(opts);
    // The first calls get no answer: their attempts time out while the others run.
    server.script(std::vector<fault>(12, fault::with(fault::action::hang)));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections = 8;
    cfg.attempt_timeout = std::chrono::milliseconds(100);
    cfg.retry.max_retries = 0;
    cfg.retry.retry_stale_connection = false;
    auto client = std::make_unique<stripe_asio::client>(ioc, cfg); // a strand over the io_context
    constexpr int callers = 32, calls_each = 20;
    std::atomic<int> ok{0}, timed_out{0}, cancelled{0}, unexpected{0};
    for (int i = 0; i < callers; ++i) {
        // Each caller on a strand of its own, as awaitable operators need: the two branches of
        // its `||` would otherwise complete on two threads at once.
        asio::co_spawn(
            asio::make_strand(ioc),
            [&, i]() -> asio::awaitable<void> {
                for (int j = 0; j < calls_each; ++j) {
                    stripe_asio::error_code ec;
                    if ((i + j) % 4 == 0) {
                        // Raced against a short timer: the cancellation comes from whichever
                        // thread ran the timer, and crosses to the client's strand.
                        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::microseconds(300));
                        auto r = co_await (
                            client->create_login_link("acct_1032D82eZvKYlo2C", asio::as_tuple(asio::use_awaitable)) ||
                            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
                        if (r.index() == 1) {
                            ++cancelled;
                            continue;
                        }
                        ec = std::get<0>(std::get<0>(r));
                    } else {
                        auto [e, diag, link] = co_await client->create_login_link("acct_1032D82eZvKYlo2C",
                                                                                  asio::as_tuple(asio::use_awaitable));
                        ec = e;
                    }
                    if (!ec) ++ok;
                    else if (ec == stripe_asio::errc::attempt_timeout) ++timed_out;
                    else ++unexpected;
                }
            },
            asio::detached);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&ioc] { ioc.run(); });
    for (auto& t : threads) t.join();
    CHECK(ok + timed_out + cancelled + unexpected == callers * calls_each);
    CHECK(unexpected == 0);
    CHECK(ok > 0);
    CHECK(timed_out > 0);
    auto s = client->stats();
    CHECK(s.calls_in_flight == 0);
    CHECK(s.waiters == 0);
    CHECK(s.open_connections <= 8);
    // The server learns of a close a moment after the client's slot is reused, so its own peak
    // may pass 8 by as many connections as the client closed, never by more.
    CHECK(server.max_connections_open() <= 8 + s.connections_closed);
    client.reset();
}

TEST_CASE("destroying a shared client while threads call it completes every call") {
    fake_stripe server;
    asio::thread_pool pool(4);
    auto client = std::make_unique<stripe_asio::client>(pool.get_executor(), config_for(server));
    server.script({fault::with(fault::action::hang), fault::with(fault::action::hang)});
    std::atomic<int> completed{0};
    for (int i = 0; i < 50; ++i)
        client->create_login_link("acct_1032D82eZvKYlo2C", [&](auto, auto, auto) { ++completed; });
    while (server.request_count() < 2) std::this_thread::yield();
    client.reset();
    pool.wait();
    CHECK(completed == 50);
}

} // TEST_SUITE("threads")

#ifdef STRIPE_ASIO_TEST_WITH_REDIS
#include "support/redis_process.hpp"

#include <future>

TEST_CASE("8 threads share one client with a shared budget: questions to Redis and calls race safely") {
    test::redis_process redis;
    fake_stripe::options opts;
    opts.record_requests = false;
    fake_stripe server(opts);
    asio::thread_pool pool(8);
    auto cfg = config_for(server);
    cfg.rate_budget.enabled = true;
    cfg.rate_budget.account_per_second = 4000; // paced, so calls wait for Redis's room too
    cfg.rate_budget.endpoint_per_second = 4000;
    cfg.shared_budget.url = redis.url();
    auto client = std::make_unique<stripe_asio::client>(pool.get_executor(), cfg);
    constexpr int callers = 32, calls_each = 20, total = callers * calls_each;
    std::atomic<int> done{0}, ok{0};
    std::promise<void> all_done;
    for (int i = 0; i < callers; ++i) {
        asio::co_spawn(
            pool,
            [&, i]() -> asio::awaitable<void> {
                for (int j = 0; j < calls_each; ++j) {
                    stripe_asio::request_options o;
                    if ((i + j) % 7 == 0) o.call_timeout = std::chrono::milliseconds(1); // ends mid-question
                    auto [ec, diag, link] = co_await client->create_login_link("acct_1032D82eZvKYlo2C", o,
                                                                               asio::as_tuple(asio::use_awaitable));
                    if (!ec) ++ok;
                    if (++done == total) all_done.set_value();
                }
            },
            asio::detached);
    }
    REQUIRE(all_done.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(ok > total / 2);
    auto s = client->stats();
    CHECK(s.shared_budget_reservations + s.shared_budget_fallbacks >= static_cast<std::uint64_t>(ok.load()));
    CHECK(s.calls_in_flight == 0);
    client.reset(); // its connections to Redis close, and the pool runs out of work
    pool.join();
}
#endif
