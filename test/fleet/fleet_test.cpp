// The fleet: 4 processes (fleet_member), 2 clients each, 64 callers each, started together and
// sharing one login-link budget (a test key: 25/s) through a real redis-server, against one
// fake_stripe that admits at most 25 requests in any one-second window however it falls
// (sliding_window: stricter than Stripe's token bucket). With the default configuration plus
// the Redis URL and the fleet size, the server answers no 429 over the whole run, the first
// second included, and at least 85 % of the budget is used. The same holds for one process with
// its local budget alone. Without the shared budget, each client keeps 25/s of its own and the
// same fleet meets 429s (so the first check can fail). Real processes and time: about 18 s, then
// 4 s, then 3 s.
#include "support/redis_process.hpp"

#include <stripe_asio/testing/fake_stripe.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

using stripe_asio::testing::fake_stripe;

namespace {

constexpr int members = 4;

/// One member process and what it printed.
struct member {
    pid_t pid = -1;
    int out = -1;
    std::string printed;
    int status = -1;
};

member launch(const fake_stripe& server, const std::string& redis_url, int seconds, int clients_per_member,
              int fleet_size) {
    std::vector<std::string> args = {STRIPE_ASIO_FLEET_MEMBER,
                                     "--base-url",
                                     server.base_url(),
                                     "--ca-file",
                                     server.ca_file(),
                                     "--api-key",
                                     server.api_key(),
                                     "--clients",
                                     std::to_string(clients_per_member),
                                     "--concurrency",
                                     "64",
                                     "--seconds",
                                     std::to_string(seconds),
                                     "--fleet-size",
                                     std::to_string(fleet_size)};
    if (!redis_url.empty()) {
        args.push_back("--redis");
        args.push_back(redis_url);
    }
    std::vector<char*> argv; // made before fork: the child of a threaded process must not allocate
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    member m;
    m.pid = ::fork();
    REQUIRE(m.pid >= 0);
    if (m.pid == 0) {
        ::dup2(pipe_fds[1], 1);
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        ::close_range(3, ~0U, 0); // nothing of the test's own: its sockets would outlive their closing
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    m.out = pipe_fds[0];
    return m;
}

/// Waits for every member, reading what each prints; kills those still running at `limit`.
void wait_all(std::vector<member>& fleet, std::chrono::seconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    for (member& m : fleet) {
        while (std::chrono::steady_clock::now() < until) {
            pollfd p{m.out, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) continue;
            char buf[512];
            ssize_t n = ::read(m.out, buf, sizeof buf);
            if (n <= 0) break;
            m.printed.append(buf, static_cast<std::size_t>(n));
        }
        ::close(m.out);
        // Its output ends as it exits, a moment before it can be reaped.
        bool reaped = false;
        while (!(reaped = ::waitpid(m.pid, &m.status, WNOHANG) == m.pid) && std::chrono::steady_clock::now() < until)
            ::poll(nullptr, 0, 10);
        if (!reaped) {
            ::kill(m.pid, SIGKILL);
            ::waitpid(m.pid, &m.status, 0);
            FAIL("a fleet member did not finish in time");
        }
    }
}

/// "ok=12 rate_limited=0 ..." as numbers by name.
std::map<std::string, long> counts_of(const std::string& line) {
    std::map<std::string, long> out;
    std::istringstream in(line);
    std::string field;
    while (in >> field) {
        auto eq = field.find('=');
        if (eq != std::string::npos) out[field.substr(0, eq)] = std::stol(field.substr(eq + 1));
    }
    return out;
}

std::map<std::string, long> run_fleet(const fake_stripe& server, const std::string& redis_url, int seconds,
                                      int processes = members, int clients_per_member = 2) {
    std::vector<member> fleet;
    for (int i = 0; i < processes; ++i)
        fleet.push_back(launch(server, redis_url, seconds, clients_per_member, processes * clients_per_member));
    wait_all(fleet, std::chrono::seconds(seconds + 30));
    std::map<std::string, long> total;
    for (member& m : fleet) {
        INFO("member printed: " << m.printed);
        CHECK(WIFEXITED(m.status));
        CHECK(WEXITSTATUS(m.status) == 0);
        for (auto& [k, v] : counts_of(m.printed)) total[k] += v;
    }
    return total;
}

/// A test key's limits, as strict as they come: at most 25 in any one-second window.
fake_stripe::options strictly_25() {
    fake_stripe::options o;
    o.rate_limits.account_per_second = 25;
    o.rate_limits.endpoint_per_second = 25;
    o.rate_limits.sliding_window = true;
    return o;
}

/// The share of the budget (25/s) the server let through in its whole seconds 1 to `seconds` - 1.
/// Its first second is left out: the members start some time into it (a sanitizer's start-up
/// and the first TLS handshakes take a good part of it), which says nothing of the pacing. The
/// 429s are counted over every second, the first included.
double budget_used(const fake_stripe& server, int seconds) {
    auto per_second = server.admitted_per_second();
    std::uint64_t admitted = 0;
    for (std::size_t i = 1; i < per_second.size() && i < static_cast<std::size_t>(seconds); ++i)
        admitted += per_second[i];
    return static_cast<double>(admitted) / (25.0 * (seconds - 1));
}

} // namespace

TEST_SUITE("fleet") {

TEST_CASE("fleet: 4 processes x 2 clients started together share 25/s through Redis: no 429, the first second "
          "included, and 85 % of the budget used") {
    test::redis_process redis;
    fake_stripe server(strictly_25());
    constexpr int seconds = 18;
    auto total = run_fleet(server, redis.url(), seconds);
    double used = budget_used(server, seconds);
    MESSAGE("shared: ok=" << total["ok"] << " rate_limited=" << total["rate_limited"] << " refused=" << total["refused"]
                          << " reservations=" << total["reservations"] << " fallbacks=" << total["fallbacks"]
                          << " budget used=" << used * 100 << " %");
    CHECK(total["rate_limited"] == 0);
    CHECK(total["other"] == 0);
    CHECK(total["fallbacks"] == 0); // the first calls waited for Redis rather than take a share
    CHECK(server.rate_limited_answers() == 0);
    CHECK(used >= 0.85);
}

TEST_CASE("fleet: one process with its local budget alone: no 429 and 85 % of the budget used") {
    fake_stripe server(strictly_25());
    constexpr int seconds = 5;
    auto total = run_fleet(server, "", seconds, 1, 1);
    double used = budget_used(server, seconds);
    MESSAGE("local: ok=" << total["ok"] << " rate_limited=" << total["rate_limited"] << " budget used=" << used * 100
                         << " %");
    CHECK(total["rate_limited"] == 0);
    CHECK(total["other"] == 0);
    CHECK(server.rate_limited_answers() == 0);
    CHECK(used >= 0.85);
}

TEST_CASE("fleet: without the shared budget, the same fleet meets 429s") {
    fake_stripe server(strictly_25());
    auto total = run_fleet(server, "", 3);
    MESSAGE("unshared: ok=" << total["ok"] << " rate_limited=" << total["rate_limited"]);
    CHECK(total["rate_limited"] > 0);
    CHECK(server.rate_limited_answers() > 0);
}

} // TEST_SUITE("fleet")
