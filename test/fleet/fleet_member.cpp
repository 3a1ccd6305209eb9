// One server of a fleet, for the fleet test (fleet_test.cpp): `--clients` clients on one
// io_context, `--concurrency` callers making login links in a loop until `--seconds` have
// passed. A call refused by the rate budget waits the wait it was told, as a user shown a
// "busy, try again shortly" page would. With `--redis URL` the clients share the budget there;
// `--fleet-size` is config.shared_budget.fleet_size. Otherwise the configuration is the default.
// Prints one line of counts; exits 1 when a call is still running well after the end.
#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct counts {
    long ok = 0, rate_limited = 0, refused = 0, other = 0;
};

asio::awaitable<void> caller(stripe_asio::client& client, std::chrono::steady_clock::time_point end, counts& n,
                             int& running) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (std::chrono::steady_clock::now() < end) {
        auto [ec, diag, link] =
            co_await client.create_login_link("acct_1032D82eZvKYlo2C", asio::as_tuple(asio::use_awaitable));
        if (!ec) {
            ++n.ok;
        } else if (ec == stripe_asio::errc::rate_limit) {
            ++n.rate_limited;
        } else if (ec == stripe_asio::errc::rate_budget_exhausted) {
            ++n.refused;
            pause.expires_after(std::max<std::chrono::milliseconds>(diag.rate_budget_wait, 10ms));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        } else {
            ++n.other;
            std::fprintf(stderr, "call failed: %s\n", diag.to_string().c_str());
        }
    }
    --running;
}

} // namespace

int main(int argc, char** argv) {
    std::string base_url, ca_file, api_key = "sk_test_fleet", redis;
    int clients = 2, concurrency = 64, seconds = 20;
    unsigned fleet_size = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--base-url") base_url = value;
        else if (flag == "--ca-file") ca_file = value;
        else if (flag == "--api-key") api_key = value;
        else if (flag == "--redis") redis = value;
        else if (flag == "--fleet-size") fleet_size = static_cast<unsigned>(std::stoul(value));
        else if (flag == "--clients") clients = std::stoi(value);
        else if (flag == "--concurrency") concurrency = std::stoi(value);
        else if (flag == "--seconds") seconds = std::stoi(value);
        else {
            std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    stripe_asio::config cfg;
    cfg.api_key = api_key;
    cfg.base_url = base_url;
    cfg.ca_file = ca_file;
    cfg.rate_budget.max_wait = 1s;
    cfg.call_timeout = 10s;
    cfg.shared_budget.url = redis;
    cfg.shared_budget.fleet_size = fleet_size;

    asio::io_context io;
    std::list<stripe_asio::client> fleet;
    for (int i = 0; i < clients; ++i) fleet.emplace_back(io, cfg);
    // The load starts at once, as a server's does on a deploy: the first calls meet clients whose
    // connections to Redis are still being made.

    counts n;
    int running = concurrency;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    auto it = fleet.begin();
    for (int i = 0; i < concurrency; ++i) {
        asio::co_spawn(io, caller(*it, end, n, running), asio::detached);
        if (++it == fleet.end()) it = fleet.begin();
    }
    // The callers stop at `end`; a call started just before it may take the budget's wait.
    auto give_up = end + 15s;
    while (running > 0 && std::chrono::steady_clock::now() < give_up) io.run_one_for(50ms);

    stripe_asio::client_stats total;
    for (auto& c : fleet) {
        auto s = c.stats();
        total.shared_budget_reservations += s.shared_budget_reservations;
        total.shared_budget_fallbacks += s.shared_budget_fallbacks;
        total.shared_budget_failures += s.shared_budget_failures;
        total.calls_in_flight += s.calls_in_flight;
    }
    std::printf("ok=%ld rate_limited=%ld refused=%ld other=%ld reservations=%llu fallbacks=%llu failures=%llu "
                "running=%d\n",
                n.ok, n.rate_limited, n.refused, n.other,
                static_cast<unsigned long long>(total.shared_budget_reservations),
                static_cast<unsigned long long>(total.shared_budget_fallbacks),
                static_cast<unsigned long long>(total.shared_budget_failures), running);
    std::fflush(stdout);
    return running == 0 ? 0 : 1;
}
