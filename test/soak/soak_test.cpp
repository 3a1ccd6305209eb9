// stripe_asio_soak: nothing lost, nothing doubled. Many concurrent callers make login links
// through one client against an in-process fake Stripe that injects random faults of every kind
// it has, and every call is checked against what the server says it delivered.
//
//   stripe_asio_soak                                   200,000 calls, 512 callers, 2 % faults
//   stripe_asio_soak --calls 30000 --time-limit 100    the short version ctest runs
//
// Exit status: 0 when every check held, 1 when one failed (each failure is printed), 2 for bad
// options. The last line on stdout is a one-line JSON summary.
#include <stripe_asio/stripe_asio.hpp>
#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <malloc.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using stripe_asio::errc;
using stripe_asio::error_code;
using stripe_asio::testing::fake_stripe;

constexpr std::string_view usage_text =
    "usage: stripe_asio_soak [--calls N] [--concurrency C] [--fault-rate R] [--connections K]\n"
    "                        [--time-limit SECONDS] [--seed S]\n"
    "\n"
    "C concurrent callers make N login links (each with its own account and idempotency key)\n"
    "through one client with K connections, against an in-process fake Stripe that gives a\n"
    "fraction R of the calls a random fault; then checks that every call completed exactly once,\n"
    "in time, with its own link or a typed error, that the links match what the server delivered,\n"
    "and that connections and memory came back.\n"
    "\n"
    "  --calls N            calls to make (default 200000)\n"
    "  --concurrency C      concurrent callers (default 512)\n"
    "  --fault-rate R       probability of a random fault per request, 0 to 1 (default 0.02)\n"
    "  --connections K      the client's max_connections (default 16)\n"
    "  --time-limit S       start no call after S seconds (default 170)\n"
    "  --seed S             the server's fault draws (default 1)\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "stripe_asio_soak: " << message << "\n\n" << usage_text;
    std::exit(2);
}

struct options {
    std::uint64_t calls = 200'000;
    std::uint64_t concurrency = 512;
    double fault_rate = 0.02;
    std::uint64_t connections = 16;
    double time_limit = 170;
    std::uint64_t seed = 1;
};

std::uint64_t parse_count(const std::string& flag, const std::string& text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < min || n > max)
        usage_error("bad value for " + flag + ": " + text);
    return n;
}

double parse_real(const std::string& flag, const std::string& text, double min, double max) {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v >= min && v <= max)) usage_error("bad value for " + flag + ": " + text);
    return v;
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else if (arg == "--calls") {
            o.calls = parse_count(arg, value(), 1, 100'000'000);
        } else if (arg == "--concurrency") {
            o.concurrency = parse_count(arg, value(), 1, 100'000);
        } else if (arg == "--fault-rate") {
            o.fault_rate = parse_real(arg, value(), 0, 1);
        } else if (arg == "--connections") {
            o.connections = parse_count(arg, value(), 1, 10'000);
        } else if (arg == "--time-limit") {
            o.time_limit = parse_real(arg, value(), 0.001, 86'400);
        } else if (arg == "--seed") {
            o.seed = parse_count(arg, value(), 0, UINT64_MAX);
        } else {
            usage_error("unknown option " + arg);
        }
    }
    return o;
}

/// Resident memory now, from /proc/self/statm, after giving freed heap back to the system so
/// that only memory still in use counts.
std::uint64_t resident_bytes() {
    malloc_trim(0);
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool memory_checked_by_sanitizer = true; // and RSS says nothing about leaks
#else
constexpr bool memory_checked_by_sanitizer = false;
#endif

long long milliseconds(clock_type::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

bool is_timeout(const error_code& ec) { return ec == errc::attempt_timeout || ec == errc::deadline_exceeded; }

// The client's settings for the soak: attempts end quickly (hangs last 2.5 s or more, so the
// client's 1 s timeout is what ends them), and backoff is short.
constexpr auto attempt_timeout = 1000ms;
constexpr auto call_timeout = 10'000ms;
constexpr auto lateness_allowed = 1000ms;

// The invariants, per call i with key k_i (every call has its own key and account):
//  1. call i completes exactly once, with success or an error of stripe_asio's category;
//  2. it completes no later than its start + call_timeout + 1 s;
//  3. on success: link.url == server.link_for_key(k_i), the URL is under /express/<account_i>/,
//     link.meta.idempotency_key == k_i, and the server delivered an intact 200 for k_i (it
//     counts a delivery before the bytes go out, so the count is there when the client has
//     read them);
//  4. on failure where no attempt timed out (the client never gave up on an answer), the
//     server delivered no intact 200 for k_i in step: checked at completion and again once the
//     server has stopped, so a delivery that came late is caught too. Two deliveries are not
//     losses and are left out: one to a connection the client abandoned after an attempt
//     timeout (the call then counts as given up, and is not checked), and one behind a stray
//     copy or junk the server sent in a write of its own (key_deliveries::behind_stray): the
//     client rightly took the stray bytes for its answer, failed that attempt and closed the
//     connection. Stray bytes sent in the answer's own write do not excuse anything: the client
//     must see them and not reuse the connection.
// Together: successes == |{k : the server delivered an intact 200 for k in step, and k's call
// did not give up}|, checked key by key, not just as totals.
//  5. afterwards: no call in flight, no waiter, every open connection idle and at most K; the
//     server's open connections settle to the client's idle ones, then to 0 once the client is
//     gone; no hang outlived its hang_for (the client closed every one);
//  6. RSS at the end is within 10 % + 4 MiB of RSS after the first 10 % of the calls, both taken
//     with nothing in flight (the callers wait while the warm-up is measured) and after
//     malloc_trim; the slack covers allocator and TLS session caches settling in short runs.
//     Not under ASan or TSan, whose quarantine grows RSS by design (their leak checks apply);
//  7. with enough faults expected (20 per kind), every random fault kind was injected.
class soak {
public:
    soak(const options& o, fake_stripe& server, asio::io_context& ioc)
        : o_(o), server_(server), warmup_gate_(ioc, clock_type::time_point::max()), completions_(o.calls, 0),
          warmup_calls_(std::max<std::uint64_t>(1, o.calls / 10)),
          stop_at_(clock_type::now() +
                   std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.time_limit))),
          express_prefix_(server.base_url() + "/express/") {}

    /// Callers wait here once the warm-up's calls are all handed out, until release_warmup().
    bool at_warmup_gate() const { return !warmup_released_ && started_ == warmup_calls_ && started_ < o_.calls; }
    asio::steady_timer& warmup_gate() { return warmup_gate_; }
    /// Every warm-up call has completed: nothing is in flight.
    bool warmup_drained() const { return !warmup_released_ && completed_ == warmup_calls_; }
    void release_warmup(std::uint64_t rss) {
        rss_after_warmup_ = rss;
        warmup_released_ = true;
        warmup_gate_.cancel();
    }

    /// The next call's index, or nothing once N calls started or the time limit passed.
    std::optional<std::uint64_t> take() {
        if (started_ >= o_.calls || clock_type::now() >= stop_at_) return std::nullopt;
        return started_++;
    }

    /// Counts a completion; false when the call had already completed (never resume twice).
    bool count_completion(std::uint64_t i) {
        if (++completions_[i] == 1) return true;
        violation("call " + std::to_string(i) + " completed " + std::to_string(completions_[i]) + " times");
        return false;
    }

    void finished(std::uint64_t i, const std::string& account, const std::string& key, clock_type::time_point start,
                  const error_code& ec, const stripe_asio::diagnostics& diag, const stripe_asio::login_link& link) {
        const auto now = clock_type::now();
        const auto late = now - (start + call_timeout);
        max_lateness_ = std::max(max_lateness_, late);
        const std::string who = "call " + std::to_string(i) + " (" + account + ", key " + key + ")";
        if (late > lateness_allowed)
            violation(who + " completed " + std::to_string(milliseconds(late)) + " ms after its deadline");

        bool gave_up = is_timeout(ec);
        for (const auto& a : diag.failed_attempts) gave_up = gave_up || is_timeout(a.ec);

        if (!ec) {
            ++succeeded_;
            if (!link.url.starts_with(express_prefix_ + account + "/"))
                violation(who + " got a link that is not its account's: " + link.url);
            if (link.meta.idempotency_key.view() != key)
                violation(who + " reports idempotency key " + std::string(link.meta.idempotency_key.view()));
            auto stored = server_.link_for_key(key);
            if (!stored) violation(who + " succeeded but the server stored no link for its key");
            else if (*stored != link.url)
                violation(who + " got " + link.url + " but the server issued " + *stored + " for its key");
            // Done with the key: forgetting it keeps the server's store as small as the calls in flight.
            if (server_.forget_key(key).total() == 0)
                violation(who + " succeeded but the server delivered no intact answer for its key");
        } else {
            ++failed_;
            ++errors_by_kind_[stripe_asio::error_kind(ec)];
            if (ec.category() != stripe_asio::error_category())
                violation(who + " failed with an error not of stripe_asio's category: " + ec.message() + "; " +
                          diag.to_string());
            if (gave_up) {
                ++gave_up_;
                if (server_.forget_key(key).total() > 0) ++gave_up_after_delivery_;
            } else {
                ++failed_without_timeout_;
                if (server_.deliveries_for_key(key).in_step > 0)
                    violation(who + " failed (" + diag.to_string() +
                              ") though no attempt timed out and the server "
                              "delivered its link: a lost link");
                failed_without_timeout_calls_.push_back(i);
            }
        }
        ++completed_;
    }

    /// Invariant 4 once more, after the server has stopped and every delivery is counted.
    void recheck_failures(const std::string& key_prefix) {
        for (std::uint64_t i : failed_without_timeout_calls_)
            if (server_.deliveries_for_key(key_prefix + std::to_string(i)).in_step > 0)
                violation("call " + std::to_string(i) +
                          " failed though no attempt timed out, and the server later "
                          "delivered its link: a lost link");
    }

    /// Every call started completed exactly once.
    void check_all_completed() {
        std::uint64_t missing = 0;
        for (std::uint64_t i = 0; i < started_; ++i) {
            if (completions_[i] != 0) continue;
            if (++missing <= 10) violation("call " + std::to_string(i) + " never completed");
        }
        if (missing > 10) violation(std::to_string(missing) + " calls in all never completed");
    }

    void violation(const std::string& what) {
        if (++violations_ <= max_reported_) std::cerr << "stripe_asio_soak: FAIL: " << what << '\n';
    }

    std::uint64_t started() const { return started_; }
    std::uint64_t completed() const { return completed_; }
    std::uint64_t succeeded() const { return succeeded_; }
    std::uint64_t failed() const { return failed_; }
    std::uint64_t gave_up() const { return gave_up_; }
    std::uint64_t gave_up_after_delivery() const { return gave_up_after_delivery_; }
    std::uint64_t failed_without_timeout() const { return failed_without_timeout_; }
    std::uint64_t violations() const { return violations_; }
    std::uint64_t warmup_calls() const { return warmup_calls_; }
    std::optional<std::uint64_t> rss_after_warmup() const { return rss_after_warmup_; }
    clock_type::duration max_lateness() const { return max_lateness_; }
    const std::map<std::string, std::uint64_t>& errors_by_kind() const { return errors_by_kind_; }

private:
    static constexpr std::uint64_t max_reported_ = 50;
    const options& o_;
    fake_stripe& server_;
    asio::steady_timer warmup_gate_;
    bool warmup_released_ = false;
    std::vector<std::uint8_t> completions_; ///< per call; allocated and touched before the run
    const std::uint64_t warmup_calls_;
    const clock_type::time_point stop_at_;
    const std::string express_prefix_;
    std::uint64_t started_ = 0, completed_ = 0, succeeded_ = 0, failed_ = 0;
    std::uint64_t gave_up_ = 0, gave_up_after_delivery_ = 0, failed_without_timeout_ = 0;
    std::uint64_t violations_ = 0;
    std::vector<std::uint64_t> failed_without_timeout_calls_; ///< a fraction of a percent of the calls
    std::map<std::string, std::uint64_t> errors_by_kind_;
    std::optional<std::uint64_t> rss_after_warmup_;
    clock_type::duration max_lateness_ = clock_type::duration::min();
};

// A named token: g++ 12 mishandles class temporaries inside a co_await expression.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// Wraps the caller's handler: counts every completion of call `index` and resumes the caller
/// only on the first, so a second completion is reported instead of resuming a finished wait.
template <class Handler>
struct counted_handler {
    Handler handler;
    soak* state;
    std::uint64_t index;

    void operator()(error_code ec, stripe_asio::diagnostics diag, stripe_asio::login_link link) {
        if (state->count_completion(index)) std::move(handler)(ec, std::move(diag), std::move(link));
    }
};

template <class Token>
auto counted_login_link(stripe_asio::client& client, soak& state, std::uint64_t index, const std::string& account,
                        const stripe_asio::request_options& opts, Token&& token) {
    return asio::async_initiate<Token, void(error_code, stripe_asio::diagnostics, stripe_asio::login_link)>(
        [&client, &state, index, &account, &opts](auto handler) {
            using counted = counted_handler<std::decay_t<decltype(handler)>>;
            client.create_login_link(account, opts, counted{std::move(handler), &state, index});
        },
        token);
}

asio::awaitable<void> caller(stripe_asio::client& client, soak& state, std::string key_prefix, std::uint64_t& alive) {
    std::string account, key;
    stripe_asio::request_options opts;
    for (;;) {
        while (state.at_warmup_gate()) co_await state.warmup_gate().async_wait(use_tuple);
        auto index = state.take();
        if (!index) break;
        account = "acct_soak" + std::to_string(*index);
        key = key_prefix + std::to_string(*index);
        opts.idempotency_key = key;
        const auto start = clock_type::now();
        auto [ec, diag, link] = co_await counted_login_link(client, state, *index, account, opts, use_tuple);
        state.finished(*index, account, key, start, ec, diag, link);
    }
    --alive;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "\"";
}

int run(const options& o) {
    fake_stripe::options server_opts;
    server_opts.record_requests = false;
    server_opts.random_faults.rate = o.fault_rate;
    server_opts.random_faults.seed = o.seed;
    server_opts.random_faults.hang_for_min = 2500ms; // well past the client's 1 s attempt timeout
    server_opts.random_faults.hang_for_max = 4000ms;
    server_opts.random_faults.delay_min = 10ms; // a third of the delays outlast the attempt timeout
    server_opts.random_faults.delay_max = 1500ms;
    fake_stripe server(server_opts);

    asio::io_context ioc(1);
    stripe_asio::config cfg;
    cfg.api_key = server.api_key();
    cfg.base_url = server.base_url();
    cfg.ca_pem = server.ca_pem();
    cfg.rate_budget.enabled = false; // a soak of the client, not of Stripe's ceiling
    cfg.attempt_timeout = attempt_timeout;
    cfg.call_timeout = call_timeout;
    cfg.retry.initial_delay = 5ms;
    cfg.retry.max_delay = 50ms;
    cfg.max_connections = o.connections;
    cfg.max_pending = std::max<std::size_t>(cfg.max_pending, o.concurrency);
    std::optional<stripe_asio::client> client(std::in_place, ioc, cfg);

    soak state(o, server, ioc);
    const std::string key_prefix = "soak-" + std::to_string(o.seed) + "-";
    const auto began = clock_type::now();

    std::uint64_t alive = o.concurrency;
    for (std::uint64_t i = 0; i < o.concurrency; ++i)
        asio::co_spawn(ioc, caller(*client, state, key_prefix, alive), asio::detached);

    // A call that never completes would keep its caller alive for ever: give up well after the
    // last call's deadline could have passed, and report what is missing.
    bool watchdog_fired = false;
    asio::steady_timer watchdog(ioc);
    const auto time_limit =
        std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.time_limit));
    watchdog.expires_after(time_limit + call_timeout + 60s);
    watchdog.async_wait([&](error_code ec) { watchdog_fired = !ec; });

    // A progress line every 10 s on stderr, for long runs.
    asio::steady_timer progress(ioc);
    std::function<void()> arm_progress = [&] {
        progress.expires_after(10s);
        progress.async_wait([&](error_code ec) {
            if (ec) return;
            std::cerr << "stripe_asio_soak: " << state.completed() << " of " << o.calls << " calls done, "
                      << state.failed() << " failed, RSS " << resident_bytes() / 1024 << " KiB, "
                      << std::chrono::duration_cast<std::chrono::seconds>(clock_type::now() - began).count() << " s\n";
            arm_progress();
        });
    };
    arm_progress();

    // Memory is compared between two quiet moments: after the warm-up's calls, with the callers
    // held until it is measured, and at the end. Mid-run samples swing by megabytes with the
    // transient buffers of oversized answers.
    auto quiet_rss = [&] {
        server.wait_until_settled(client->stats().open_connections, 10s);
        return resident_bytes();
    };
    bool ran_out_of_work = false;
    while (alive > 0 && !watchdog_fired) {
        if (ioc.run_one() == 0) {
            ran_out_of_work = true; // callers still waiting, but nothing left that could wake them
            break;
        }
        if (state.warmup_drained()) state.release_warmup(quiet_rss());
    }
    watchdog.cancel();
    progress.cancel();
    ioc.poll();
    const double seconds = std::chrono::duration<double>(clock_type::now() - began).count();
    if (watchdog_fired) state.violation(std::to_string(alive) + " callers still waiting after the watchdog's limit");
    if (ran_out_of_work) state.violation(std::to_string(alive) + " callers waiting on an io_context with no work left");
    state.check_all_completed();

    const std::uint64_t rss_end = quiet_rss();
    if (memory_checked_by_sanitizer) {
        // ASan and TSan keep freed memory in quarantine and shadow it: RSS grows by design.
    } else if (!state.rss_after_warmup()) {
        state.violation("fewer calls than the warm-up (" + std::to_string(state.warmup_calls()) + ") completed");
    } else if (const double allowed = static_cast<double>(*state.rss_after_warmup()) * 1.10 + 4.0 * 1024 * 1024;
               static_cast<double>(rss_end) > allowed) {
        state.violation("RSS grew from " + std::to_string(*state.rss_after_warmup()) + " bytes after the warm-up to " +
                        std::to_string(rss_end) + " at the end");
    }

    const auto stats = client->stats();
    if (stats.calls_in_flight != 0) state.violation("calls_in_flight is " + std::to_string(stats.calls_in_flight));
    if (stats.waiters != 0) state.violation("waiters is " + std::to_string(stats.waiters));
    if (stats.open_connections != stats.idle_connections || stats.open_connections > o.connections)
        state.violation("open_connections " + std::to_string(stats.open_connections) + ", idle_connections " +
                        std::to_string(stats.idle_connections) + ", max_connections " + std::to_string(o.connections));
    if (stats.calls_started != state.started() || stats.calls_succeeded != state.succeeded() ||
        stats.calls_failed != state.failed())
        state.violation("client stats count " + std::to_string(stats.calls_started) + " started, " +
                        std::to_string(stats.calls_succeeded) + " succeeded, " + std::to_string(stats.calls_failed) +
                        " failed; the callers saw " + std::to_string(state.started()) + ", " +
                        std::to_string(state.succeeded()) + ", " + std::to_string(state.failed()));
    // The client closed what it abandoned; the server must notice every close and free it.
    if (!server.wait_until_settled(stats.idle_connections, 10s))
        state.violation("the server still has " + std::to_string(server.connections_open()) +
                        " connections open (or busy), the client " + std::to_string(stats.idle_connections) + " idle");
    const std::size_t server_open_settled = server.connections_open();

    client.reset();
    // The client's shutdown runs on its executor and closes the idle connections. The io_context
    // ran out of work when the last call ended, so it must be restarted first.
    ioc.restart();
    ioc.poll();
    if (!server.wait_until_settled(0, 10s))
        state.violation("the server still has " + std::to_string(server.connections_open()) +
                        " connections open after the client is gone");
    server.stop();
    state.recheck_failures(key_prefix);
    if (server.hangs_outlived() != 0)
        state.violation(std::to_string(server.hangs_outlived()) + " hangs outlived their hang_for: the client did not "
                                                                  "close the connection after its attempt timeout");

    const double expected_per_kind =
        static_cast<double>(state.started()) * o.fault_rate / static_cast<double>(fake_stripe::random_fault_kinds);
    std::ostringstream faults;
    faults << '{';
    for (std::size_t k = 0; k < fake_stripe::random_fault_kinds; ++k) {
        const auto kind = static_cast<fake_stripe::random_fault_kind>(k);
        const auto n = server.random_faults_injected(kind);
        faults << (k ? "," : "") << json_string(fake_stripe::name(kind)) << ':' << n;
        if (expected_per_kind >= 20 && n == 0)
            state.violation(std::string("the random fault ") + fake_stripe::name(kind) + " was never injected");
    }
    faults << '}';

    std::ostringstream errors;
    errors << '{';
    bool first = true;
    for (const auto& [kind, n] : state.errors_by_kind()) {
        errors << (first ? "" : ",") << json_string(kind) << ':' << n;
        first = false;
    }
    errors << '}';

    std::ostringstream summary;
    summary << "{\"result\":" << (state.violations() == 0 ? "\"pass\"" : "\"fail\"")
            << ",\"violations\":" << state.violations() << ",\"calls_requested\":" << o.calls
            << ",\"calls_started\":" << state.started() << ",\"calls_completed\":" << state.completed()
            << ",\"succeeded\":" << state.succeeded() << ",\"failed\":" << state.failed()
            << ",\"failed_after_timeout\":" << state.gave_up()
            << ",\"failed_after_timeout_with_delivery\":" << state.gave_up_after_delivery()
            << ",\"failed_without_timeout\":" << state.failed_without_timeout()
            << ",\"errors_by_kind\":" << errors.str() << ",\"random_faults\":" << server.random_faults_injected()
            << ",\"faults_by_kind\":" << faults.str() << ",\"server_login_calls\":" << server.request_count()
            << ",\"intact_answers_delivered\":" << server.intact_answers_delivered()
            << ",\"keys_left_in_store\":" << server.idempotency_keys_remembered()
            << ",\"max_lateness_ms\":" << milliseconds(state.max_lateness()) << ",\"attempts\":" << stats.attempts
            << ",\"retries\":" << stats.retries << ",\"stale_resends\":" << stats.stale_resends
            << ",\"connections_opened\":" << stats.connections_opened
            << ",\"idle_connections_at_end\":" << stats.idle_connections
            << ",\"server_connections_settled\":" << server_open_settled
            << ",\"server_peak_connections\":" << server.max_connections_open()
            << ",\"rss_after_warmup_bytes\":" << state.rss_after_warmup().value_or(0)
            << ",\"rss_end_bytes\":" << rss_end
            << ",\"rss_checked\":" << (memory_checked_by_sanitizer ? "false" : "true") << ",\"seconds\":" << seconds
            << ",\"calls_per_second\":" << static_cast<std::uint64_t>(static_cast<double>(state.completed()) / seconds)
            << ",\"concurrency\":" << o.concurrency << ",\"connections\":" << o.connections
            << ",\"fault_rate\":" << o.fault_rate << ",\"seed\":" << o.seed << "}";
    std::cout << summary.str() << std::endl;
    return state.violations() == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse_options(argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "stripe_asio_soak: " << e.what() << '\n';
        return 1;
    }
}
