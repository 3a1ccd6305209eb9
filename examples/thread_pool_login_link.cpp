// One client shared by a 4-thread asio::thread_pool: 1000 login links from 50 coroutines. With
// config::thread_safe (the default) the client serialises its own state on a strand, so any
// thread may call it; each coroutine resumes on the pool, where it was spawned.
#include "example_server.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace asio = boost::asio;

constexpr int coroutines = 50, links_each = 20;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable); // named: see use_awaitable_login_link.cpp

struct tally {
    std::atomic<int> succeeded{0}, failed{0}, off_pool{0};
    std::mutex mutex;
    std::set<std::thread::id> threads; // which pool threads resumed a coroutine
};

asio::awaitable<void> make_links(stripe_asio::client& stripe, asio::thread_pool& pool, tally& t) {
    const std::string account = "acct_1032D82eZvKYlo2C";
    for (int i = 0; i < links_each; ++i) {
        auto [ec, diag, link] = co_await stripe.create_login_link(account, use_tuple);
        // The completion ran on the coroutine's executor (the pool), not on a client thread.
        if (!pool.get_executor().running_in_this_thread()) ++t.off_pool;
        {
            std::lock_guard lock(t.mutex);
            t.threads.insert(std::this_thread::get_id());
        }
        if (ec) {
            ++t.failed;
            std::cerr << "login link failed: " << stripe_asio::error_kind(ec) << ' ' << diag.to_string() << '\n';
        } else {
            ++t.succeeded;
        }
    }
}

int main() {
    example_server server;
    asio::thread_pool pool(4);
    tally t;
    {
        stripe_asio::client stripe(pool.get_executor(), server.config); // thread_safe = true
        std::promise<void> all_done;
        std::atomic<int> remaining{coroutines};
        for (int c = 0; c < coroutines; ++c) {
            asio::co_spawn(pool, make_links(stripe, pool, t), [&](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
                if (--remaining == 0) all_done.set_value();
            });
        }
        all_done.get_future().wait();
        const auto stats = stripe.stats();
        std::cout << "connections opened: " << stats.connections_opened << ", reused " << stats.connection_reuses
                  << " times\n";
    } // the client closes its keep-alive connections here, so the pool runs out of work
    pool.join();
    std::cout << t.succeeded << " links, " << t.failed << " failures, on " << t.threads.size() << " pool threads, "
              << t.off_pool << " completions off the pool\n";
    return t.succeeded == coroutines * links_each && t.failed == 0 && t.off_pool == 0 ? 0 : 1;
}
