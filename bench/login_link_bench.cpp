// login_link_bench: how many Express Dashboard login links stripe-asio makes per second, and at
// what latency, CPU, allocations and memory per link. The fake Stripe server runs in a separate
// process on a core of its own, so everything measured here is the client's.
//
//   login_link_bench                              20,000 links, 64 callers, 16 connections
//   login_link_bench --mode connect-per-call      a new TLS connection for every call
//   login_link_bench --pending 100000             memory per call waiting for a connection
#include "alloc_counter.hpp"
#include "report.hpp"
#include "server_process.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using stripe_asio::error_code;

constexpr std::string_view usage_text =
    "usage: login_link_bench [--base-url URL [--ca-file PEM]] [--api-key KEY] [--account ID]\n"
    "                        [--requests N | --duration SECONDS] [--warmup N]\n"
    "                        [--concurrency C] [--connections P] [--threads T] [--single-threaded]\n"
    "                        [--mode pooled|connect-per-call] [--json FILE|-] [--no-progress]\n"
    "                        [--pending N] [--fake-stripe PATH] [--shared-budget URL [--fleet-size N]]\n"
    "\n"
    "Makes login links with stripe-asio as fast as C concurrent callers can, and reports links/s,\n"
    "latency percentiles, client CPU, allocations and memory per link.\n"
    "\n"
    "  --base-url URL     a Stripe-shaped server (default: start the fake-stripe program in its own\n"
    "                     process, on core 1 with the benchmark on core 0)\n"
    "  --ca-file PEM      CAs to trust for --base-url (default: the system's)\n"
    "  --api-key KEY      default $STRIPE_API_KEY with --base-url, else the fake server's key\n"
    "  --account ID       default acct_1032D82eZvKYlo2C\n"
    "  --requests N       links to make, warm-up not included (default 20000)\n"
    "  --duration S       make links for S seconds instead\n"
    "  --warmup N         links made first and not measured (default 200, at least P)\n"
    "  --concurrency C    concurrent callers (default 64)\n"
    "  --connections P    the client's max_connections (default 16)\n"
    "  --threads T        threads running the io_context (default 1)\n"
    "  --single-threaded  config.thread_safe = false (no strand; one thread only); the default is\n"
    "                     the library's default, a thread-safe client\n"
    "  --rate-budget      keep config.rate_budget on (Stripe's limits: 25/s for a test key); by\n"
    "                     default it is off here, so the client's own cost is what is measured\n"
    "  --mode M           pooled (default), or connect-per-call: a fresh client, hence a new TLS\n"
    "                     connection with a full handshake, for every call\n"
    "  --json FILE|-      also write the results as one JSON object to FILE, or to stdout\n"
    "  --no-progress      no live progress line on stderr (it only shows on a terminal anyway)\n"
    "  --pending N        instead: hold all P connections in a TLS handshake that never ends, queue\n"
    "                     N more calls and report the memory each waiting call takes\n"
    "  --fake-stripe PATH the fake-stripe program (default: found next to this program)\n"
    "  --shared-budget URL  reserve every attempt in a shared rate budget at this Redis\n"
    "                     (redis://host:port): measures what the round trip costs. Its rates are\n"
    "                     set out of reach (1e6/s) unless --rate-budget keeps Stripe's\n"
    "  --fleet-size N     with --shared-budget: the processes sharing it (config.shared_budget.\n"
    "                     fleet_size, default 1); while Redis cannot be reached each keeps 1/N\n"
    "  --budget-rate R    keep the rate budget on, at R requests/s for the account and each\n"
    "                     endpoint (local, or shared with --shared-budget): compares the two at\n"
    "                     one pace\n"
    "\n"
    "Exit status: 0 when every call succeeded, 1 when some failed or the run could not start,\n"
    "2 for bad options.\n";

constexpr const char* fake_stripe_key = "sk_test_fake_stripe_key";

/// A URL as it may be written in a report: no user or password.
std::string without_userinfo(const std::string& url) {
    auto scheme = url.find("://");
    auto at = url.rfind('@');
    if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
    return url.substr(0, scheme + 3) + url.substr(at + 1);
}

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "login_link_bench: " << message << "\n\n" << usage_text;
    std::exit(2);
}

enum class mode_kind { pooled, connect_per_call };

const char* mode_name(mode_kind m) { return m == mode_kind::pooled ? "pooled" : "connect-per-call"; }

struct options {
    std::string base_url;
    std::string ca_file;
    std::string api_key;
    std::string account = "acct_1032D82eZvKYlo2C";
    std::uint64_t requests = 20'000;
    double duration = 0; ///< seconds; > 0: run by duration instead of count
    std::optional<std::uint64_t> warmup;
    std::uint64_t concurrency = 64;
    std::uint64_t connections = 16;
    std::uint64_t threads = 1;
    bool thread_safe = true; ///< config.thread_safe, the library's default; forced on by threads > 1
    bool rate_budget = false; ///< config.rate_budget.enabled: off, to measure the client, not Stripe's ceiling
    mode_kind mode = mode_kind::pooled;
    std::string json_out;
    bool progress = true;
    std::uint64_t pending = 0;
    std::string fake_stripe;
    std::string shared_budget; ///< config.shared_budget.url
    unsigned fleet_size = 1; ///< config.shared_budget.fleet_size
    double budget_rate = 0; ///< > 0: the budgets' rate, for paced comparisons
};

std::uint64_t parse_count(const std::string& flag, const std::string& text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < min || n > max)
        usage_error("bad value for " + flag + ": " + text + " (" + std::to_string(min) + " to " + std::to_string(max) +
                    ")");
    return n;
}

options parse_options(int argc, char** argv) {
    options o;
    bool by_count = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else if (arg == "--base-url") {
            o.base_url = value();
        } else if (arg == "--ca-file") {
            o.ca_file = value();
        } else if (arg == "--api-key") {
            o.api_key = value();
        } else if (arg == "--account") {
            o.account = value();
        } else if (arg == "--requests") {
            o.requests = parse_count(arg, value(), 1, 1'000'000'000);
            by_count = true;
        } else if (arg == "--duration") {
            std::string text = value();
            char* end = nullptr;
            o.duration = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !(o.duration > 0 && o.duration <= 86'400))
                usage_error("bad value for --duration: " + text + " (seconds, more than 0)");
        } else if (arg == "--warmup") {
            o.warmup = parse_count(arg, value(), 0, 1'000'000'000);
        } else if (arg == "--concurrency") {
            o.concurrency = parse_count(arg, value(), 1, 1'000'000);
        } else if (arg == "--connections") {
            o.connections = parse_count(arg, value(), 1, 100'000);
        } else if (arg == "--threads") {
            o.threads = parse_count(arg, value(), 1, 64);
        } else if (arg == "--thread-safe") {
            o.thread_safe = true; // the default; kept for older scripts
        } else if (arg == "--single-threaded") {
            o.thread_safe = false;
        } else if (arg == "--rate-budget") {
            o.rate_budget = true;
        } else if (arg == "--shared-budget") {
            o.shared_budget = value();
        } else if (arg == "--fleet-size") {
            o.fleet_size = static_cast<unsigned>(parse_count(arg, value(), 1, 100'000));
        } else if (arg == "--budget-rate") {
            o.budget_rate = static_cast<double>(parse_count(arg, value(), 1, 1'000'000));
        } else if (arg == "--mode") {
            std::string m = value();
            if (m == "pooled") o.mode = mode_kind::pooled;
            else if (m == "connect-per-call") o.mode = mode_kind::connect_per_call;
            else usage_error("bad value for --mode: " + m + " (pooled or connect-per-call)");
        } else if (arg == "--json") {
            o.json_out = value();
        } else if (arg == "--no-progress") {
            o.progress = false;
        } else if (arg == "--pending") {
            o.pending = parse_count(arg, value(), 1, 10'000'000);
        } else if (arg == "--fake-stripe") {
            o.fake_stripe = value();
        } else {
            usage_error("unknown option " + arg);
        }
    }
    if (o.threads > 1) o.thread_safe = true;
    if (by_count && o.duration > 0) usage_error("--requests and --duration go one at a time");
    if (!o.ca_file.empty() && o.base_url.empty()) usage_error("--ca-file goes with --base-url");
    if (!o.fake_stripe.empty() && !o.base_url.empty()) usage_error("--fake-stripe and --base-url go one at a time");
    if (o.pending > 0 && o.mode != mode_kind::pooled) usage_error("--pending measures the pooled client");
    if (o.fleet_size != 1 && o.shared_budget.empty()) usage_error("--fleet-size goes with --shared-budget");
    if (o.api_key.empty()) {
        const char* env = std::getenv("STRIPE_API_KEY");
        o.api_key = !o.base_url.empty() && env && *env ? env : fake_stripe_key;
    }
    return o;
}

// ---- measurements of the process

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
}

std::uint64_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::uint64_t>(u.ru_maxrss) * 1024;
}

/// Resident memory now, from /proc/self/statm.
std::uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

/// The 1-minute load average: other work on the machine skews throughput and latency.
double load_average() {
    double one = 0;
    std::ifstream("/proc/loadavg") >> one;
    return one;
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

/// "-" writes to stdout, anything else is a file name. Returns false when the file cannot be written.
bool write_json(const std::string& where, const std::string& json) {
    if (where == "-") {
        std::cout << json << '\n';
        return bool(std::cout.flush());
    }
    std::ofstream out(where, std::ios::trunc);
    out << json << '\n';
    if (out.flush()) return true;
    std::cerr << "login_link_bench: cannot write " << where << '\n';
    return false;
}

// ---- the load run

/// What the callers share during one phase: the warm-up, then the measured run.
struct phase_state {
    phase_state(const char* phase_name, std::uint64_t calls, double seconds, std::uint64_t samples)
        : name(phase_name), target(calls), by_duration(seconds > 0),
          end(clock_type::now() +
              std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds))),
          capacity(samples), latency_ns(samples ? std::make_unique_for_overwrite<std::int64_t[]>(samples) : nullptr) {}

    const char* const name; ///< "warm-up" or "links", for the progress line
    const std::uint64_t target; ///< calls to make, when not by duration
    const bool by_duration;
    const clock_type::time_point end;
    const std::uint64_t capacity; ///< latency slots, allocated up front so the run allocates none
    std::unique_ptr<std::int64_t[]> latency_ns;

    std::atomic<std::uint64_t> next{0}; ///< tickets handed out; one per call
    std::atomic<std::uint64_t> links{0};
    std::atomic<std::uint64_t> errors{0};
    std::mutex kinds_mutex;
    std::map<std::string, std::uint64_t> errors_by_kind;

    /// The next call's ticket, or nothing when the phase is over.
    std::optional<std::uint64_t> take() noexcept {
        if (by_duration && clock_type::now() >= end) return std::nullopt;
        std::uint64_t t = next.fetch_add(1, std::memory_order_relaxed);
        if (!by_duration && t >= target) return std::nullopt;
        return t;
    }

    /// Checks and counts one finished call.
    void finish(std::uint64_t ticket, clock_type::duration took, const error_code& ec,
                const stripe_asio::login_link& link) {
        if (ticket < capacity) latency_ns[ticket] = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
        const char* kind = nullptr;
        if (ec) kind = stripe_asio::error_kind(ec);
        else if (link.object != "login_link" || link.url.size() <= 8 || !link.url.starts_with("https://"))
            kind = "bad_link";
        if (!kind) {
            links.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        errors.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(kinds_mutex);
        ++errors_by_kind[kind];
    }

    std::uint64_t done() const noexcept {
        return links.load(std::memory_order_relaxed) + errors.load(std::memory_order_relaxed);
    }

    /// The latencies recorded, sorted.
    std::vector<std::int64_t> sorted_latencies() const {
        std::uint64_t n = std::min(done(), capacity);
        std::vector<std::int64_t> v(latency_ns.get(), latency_ns.get() + n);
        std::sort(v.begin(), v.end());
        return v;
    }
};

/// Sums the counters of the short-lived clients of connect-per-call.
struct stats_total {
    std::mutex mutex;
    stripe_asio::client_stats sum;

    void add(const stripe_asio::client_stats& s) {
        std::lock_guard lock(mutex);
        sum.calls_started += s.calls_started;
        sum.calls_succeeded += s.calls_succeeded;
        sum.calls_failed += s.calls_failed;
        sum.attempts += s.attempts;
        sum.retries += s.retries;
        sum.stale_resends += s.stale_resends;
        sum.connections_opened += s.connections_opened;
        sum.connections_closed += s.connections_closed;
        sum.connect_failures += s.connect_failures;
        sum.tls_full_handshakes += s.tls_full_handshakes;
        sum.tls_resumed_handshakes += s.tls_resumed_handshakes;
        sum.connection_reuses += s.connection_reuses;
    }
};

// Errors as values: the benchmark counts them rather than throwing.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// One caller of the pooled client: calls until the phase is over.
asio::awaitable<void> pooled_caller(stripe_asio::client& client, phase_state& phase, const std::string& account) {
    for (;;) {
        auto ticket = phase.take();
        if (!ticket) co_return;
        auto start = clock_type::now();
        auto result = co_await client.create_login_link(account, use_tuple);
        phase.finish(*ticket, clock_type::now() - start, std::get<0>(result), std::get<2>(result));
    }
}

/// One caller that makes a client, hence a TLS context and a connection, for every call: the
/// library keeps connections (and TLS sessions) per client and has no switch to drop them.
asio::awaitable<void> connect_per_call_caller(const stripe_asio::config& cfg, phase_state& phase,
                                              const std::string& account, stats_total& total) {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        auto ticket = phase.take();
        if (!ticket) co_return;
        auto start = clock_type::now();
        stripe_asio::client client(ex, cfg);
        auto result = co_await client.create_login_link(account, use_tuple);
        auto took = clock_type::now() - start;
        total.add(client.stats());
        phase.finish(*ticket, took, std::get<0>(result), std::get<2>(result));
    }
}

/// Runs `ioc` on `threads` threads until it runs out of work, then readies it for the next phase.
void run_io(asio::io_context& ioc, std::uint64_t threads) {
    std::vector<std::thread> helpers;
    std::vector<std::exception_ptr> failures(threads);
    for (std::uint64_t i = 1; i < threads; ++i)
        helpers.emplace_back([&ioc, &failures, i] {
            try {
                ioc.run();
            } catch (...) {
                failures[i] = std::current_exception();
                ioc.stop();
            }
        });
    try {
        ioc.run();
    } catch (...) {
        failures[0] = std::current_exception();
        ioc.stop();
    }
    for (auto& t : helpers) t.join();
    ioc.restart();
    for (auto& f : failures)
        if (f) std::rethrow_exception(f);
}

/// The live progress line on stderr: links done, links/s over the last interval, errors.
class progress_line {
public:
    explicit progress_line(bool enabled, const std::atomic<phase_state*>& phase) : phase_(phase) {
        if (enabled && isatty(STDERR_FILENO)) thread_ = std::thread([this] { loop(); });
    }
    ~progress_line() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        thread_.join();
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    }
    progress_line(const progress_line&) = delete;
    progress_line& operator=(const progress_line&) = delete;

private:
    void loop() {
        const phase_state* last_phase = nullptr;
        std::uint64_t last_done = 0;
        auto last_time = clock_type::now();
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
            const phase_state* p = phase_.load();
            if (!p) continue;
            auto now = clock_type::now();
            if (p != last_phase) {
                last_phase = p;
                last_done = 0;
                last_time = now;
                continue;
            }
            std::uint64_t done = p->done();
            double rate =
                static_cast<double>(done - last_done) / std::chrono::duration<double>(now - last_time).count();
            last_done = done;
            last_time = now;
            std::string of = p->by_duration ? std::string() : " / " + std::to_string(p->target);
            std::fprintf(stderr, "\r\033[K%s %llu%s  %.0f links/s  %llu errors", p->name,
                         static_cast<unsigned long long>(done), of.c_str(), rate,
                         static_cast<unsigned long long>(p->errors.load(std::memory_order_relaxed)));
            std::fflush(stderr);
        }
    }

    const std::atomic<phase_state*>& phase_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

struct load_result {
    std::uint64_t links = 0, errors = 0, warmup = 0;
    std::map<std::string, std::uint64_t> errors_by_kind;
    double seconds = 0, cpu_seconds = 0;
    double server_cpu_seconds = bench::not_measured; ///< when the server is our child process
    std::vector<std::int64_t> latencies; ///< sorted, ns
    bench::alloc::counts allocations; ///< over the measured part
    stripe_asio::client_stats stats; ///< over the whole run, warm-up included
    std::uint64_t peak_rss = 0;
};

load_result run_load(const options& o, const stripe_asio::config& cfg, const bench::server_process* server) {
    asio::io_context ioc(static_cast<int>(o.threads));
    const std::uint64_t warmup = o.warmup.value_or(std::max<std::uint64_t>(200, o.connections));
    std::atomic<phase_state*> current{nullptr};
    stats_total total;
    std::optional<stripe_asio::client> pooled;
    if (o.mode == mode_kind::pooled) {
        pooled.emplace(ioc.get_executor(), cfg);
    } else {
        stripe_asio::client check(ioc.get_executor(), cfg); // a bad configuration fails here, once
    }

    // A phase ends when its callers do: the io_context is stopped then, as a client with a
    // shared budget keeps it busy with its connections to Redis.
    std::atomic<std::uint64_t> callers_left{0};
    auto spawn_callers = [&](phase_state& phase) {
        callers_left = o.concurrency;
        auto rethrow = [&ioc, &callers_left](std::exception_ptr e) {
            if (--callers_left == 0) ioc.stop();
            if (e) std::rethrow_exception(e);
        };
        for (std::uint64_t i = 0; i < o.concurrency; ++i) {
            if (pooled) asio::co_spawn(ioc, pooled_caller(*pooled, phase, o.account), rethrow);
            else asio::co_spawn(ioc, connect_per_call_caller(cfg, phase, o.account, total), rethrow);
        }
    };

    load_result r;
    progress_line line(o.progress, current);
    if (warmup > 0) {
        phase_state warm("warm-up", warmup, 0, 0);
        current = &warm;
        spawn_callers(warm);
        run_io(ioc, o.threads);
        current = nullptr;
        if (warm.errors > 0) {
            std::lock_guard lock(warm.kinds_mutex);
            for (const auto& [kind, n] : warm.errors_by_kind) r.errors_by_kind["warmup_" + kind] += n;
        }
    }
    r.warmup = warmup;

    // Latency slots for every call of the run, allocated now; by duration, enough for 400k links/s.
    std::uint64_t slots = o.duration > 0 ? static_cast<std::uint64_t>(o.duration * 400'000) + 1024 : o.requests;
    phase_state measured("links", o.requests, o.duration, slots);
    const auto allocs_before = bench::alloc::snapshot();
    const double cpu_before = cpu_seconds();
    const double server_cpu_before = server ? server->cpu_seconds() : -1;
    const auto start = clock_type::now();
    current = &measured;
    spawn_callers(measured);
    run_io(ioc, o.threads);
    r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    r.cpu_seconds = cpu_seconds() - cpu_before;
    if (server_cpu_before >= 0) r.server_cpu_seconds = server->cpu_seconds() - server_cpu_before;
    const auto allocs_after = bench::alloc::snapshot();
    current = nullptr;

    r.allocations.mallocs = allocs_after.mallocs - allocs_before.mallocs;
    r.allocations.cpp_news = allocs_after.cpp_news - allocs_before.cpp_news;
    r.links = measured.links;
    r.errors = measured.errors;
    for (const auto& [kind, n] : measured.errors_by_kind) r.errors_by_kind[kind] += n;
    r.latencies = measured.sorted_latencies();
    r.stats = pooled ? pooled->stats() : total.sum;
    pooled.reset();
    ioc.run(); // the shutdown
    r.peak_rss = peak_rss_bytes();
    return r;
}

/// Where the server is and how the client reaches it.
struct target {
    std::string base_url;
    std::string server; ///< how it was started, for the report
    int server_cpu = -1;
    std::string client_cpus = "any";
};

int report_load(const options& o, const target& t, const load_result& r, const char* method) {
    const auto per_link = [&r](double total) {
        return r.links == 0 ? bench::not_measured : total / static_cast<double>(r.links);
    };
    const double rate = r.seconds > 0 ? static_cast<double>(r.links) / r.seconds : 0;
    const double p50 = bench::percentile_ms(r.latencies, 0.50), p90 = bench::percentile_ms(r.latencies, 0.90),
                 p99 = bench::percentile_ms(r.latencies, 0.99), p999 = bench::percentile_ms(r.latencies, 0.999),
                 max = bench::percentile_ms(r.latencies, 1.0);
    const auto cpu_us = per_link(r.cpu_seconds * 1e6);
    // Shares of one core during the measured part: a client below 100 % on a saturating run
    // was held back (by the server, or by other processes on its core).
    const double client_share = r.seconds > 0 ? 100 * r.cpu_seconds / r.seconds : bench::not_measured;
    const double server_share = r.seconds > 0 ? 100 * r.server_cpu_seconds / r.seconds : bench::not_measured;
    const double load = load_average();
    const bool counted = bench::alloc::counting();
    const double allocs = counted ? per_link(static_cast<double>(r.allocations.mallocs)) : bench::not_measured;
    const double cpp_allocs = counted ? per_link(static_cast<double>(r.allocations.cpp_news)) : bench::not_measured;

    std::ostringstream table;
    table << "stripe-asio " << stripe_asio::version << " login links, " << mode_name(o.mode) << '\n'
          << "  server        " << t.base_url << " (" << t.server << ")\n"
          << "  callers       " << o.concurrency << " concurrent, "
          << (o.mode == mode_kind::pooled ? std::to_string(o.connections) + " connections"
                                          : std::string("a new connection per call"))
          << ", " << o.threads << (o.threads == 1 ? " thread" : " threads")
          << (o.thread_safe ? " (thread-safe client)" : "") << ", client on CPU " << t.client_cpus << '\n';
    if (method) table << "  method        " << method << '\n';
    table << "  links         " << r.links << " in " << bench::fixed(r.seconds, 3) << " s (+" << r.warmup
          << " warm-up), errors " << r.errors << '\n';
    for (const auto& [kind, n] : r.errors_by_kind) table << "    " << kind << ": " << n << '\n';
    table << "  links/s       " << bench::fixed(rate, 0) << '\n'
          << "  latency ms    p50 " << bench::fixed(p50, 3) << "  p90 " << bench::fixed(p90, 3) << "  p99 "
          << bench::fixed(p99, 3) << "  p99.9 " << bench::fixed(p999, 3) << "  max " << bench::fixed(max, 3) << '\n'
          << "  client CPU    " << bench::fixed(cpu_us, 2) << " us/link; " << bench::fixed(client_share, 0)
          << " % of a core (server " << bench::fixed(server_share, 0) << " %); load average " << bench::fixed(load, 2)
          << '\n'
          << "  allocations   " << bench::fixed(allocs, 2) << " /link (malloc family, OpenSSL's included), "
          << bench::fixed(cpp_allocs, 2) << " /link C++ operator new\n"
          << "  peak RSS      " << bench::fixed(static_cast<double>(r.peak_rss) / (1024.0 * 1024.0), 1) << " MiB\n"
          << "  connections   " << r.stats.connections_opened << " opened, TLS " << r.stats.tls_full_handshakes
          << " full + " << r.stats.tls_resumed_handshakes << " resumed handshakes, " << r.stats.retries << " retries, "
          << r.stats.stale_resends << " stale resends (whole run)\n";
    if (!o.shared_budget.empty())
        table << "  shared budget " << r.stats.shared_budget_reservations << " reservations in Redis, "
              << r.stats.shared_budget_fallbacks << " from the local share, " << r.stats.shared_budget_failures
              << " failed (whole run)\n";
    if (o.json_out != "-") std::cout << table.str() << std::flush;
    else std::cerr << table.str() << std::flush; // stdout carries the JSON alone

    bool written = true;
    if (!o.json_out.empty()) {
        bench::json_writer j;
        j.field("client", "stripe-asio")
            .field("links", r.links)
            .field("errors", r.errors)
            .field("errors_by_kind", r.errors_by_kind)
            .number("seconds", r.seconds, 6)
            .number("links_per_second", rate, 1)
            .number("p50_ms", p50)
            .number("p90_ms", p90)
            .number("p99_ms", p99)
            .number("p999_ms", p999)
            .number("max_ms", max)
            .number("cpu_us_per_link", cpu_us, 2)
            .number("client_cpu_percent", client_share, 1)
            .number("server_cpu_percent", server_share, 1)
            .number("allocations_per_link", allocs, 2)
            .number("cpp_allocations_per_link", cpp_allocs, 2)
            .field("peak_rss_bytes", r.peak_rss)
            .field("connections_opened", r.stats.connections_opened)
            .field("tls_full_handshakes", r.stats.tls_full_handshakes)
            .field("tls_resumed_handshakes", r.stats.tls_resumed_handshakes)
            .field("retries", r.stats.retries)
            .field("stale_resends", r.stats.stale_resends)
            .field("shared_budget", without_userinfo(o.shared_budget))
            .field("shared_budget_reservations", r.stats.shared_budget_reservations)
            .field("shared_budget_fallbacks", r.stats.shared_budget_fallbacks)
            .field("warmup_links", r.warmup)
            .field("mode", mode_name(o.mode));
        if (method) j.field("mode_method", method);
        j.field("requests", o.duration > 0 ? std::uint64_t{0} : o.requests)
            .number("duration_seconds", o.duration > 0 ? o.duration : bench::not_measured)
            .field("concurrency", o.concurrency)
            .field("connections", o.mode == mode_kind::pooled ? o.connections : std::uint64_t{1})
            .field("threads", o.threads)
            .field("thread_safe", o.thread_safe)
            .field("base_url", t.base_url)
            .field("server", t.server)
            .field("client_cpus", t.client_cpus)
            .number("load_average", load, 2)
            .field("library_version", stripe_asio::version)
            .field("date", utc_now());
        written = write_json(o.json_out, j.str());
    }
    return r.errors == 0 && r.links > 0 && written ? 0 : 1;
}

int load_main(const options& o) {
    const auto cpus = bench::allowed_cpus();
    target t;
    std::optional<bench::server_process> server;
    stripe_asio::config cfg;
    cfg.api_key = o.api_key;
    bool pin = false;
    if (o.base_url.empty()) {
        pin = cpus.size() > 1;
        t.server_cpu = pin ? cpus[1] : -1;
        server.emplace(bench::find_fake_stripe(o.fake_stripe), t.server_cpu);
        t.base_url = server->base_url();
        t.server = "fake-stripe, separate process " + std::to_string(server->pid()) +
                   (pin ? ", CPU " + std::to_string(t.server_cpu) : std::string());
        cfg.ca_pem = server->ca_pem();
    } else {
        t.base_url = o.base_url;
        t.server = "external";
        cfg.ca_file = o.ca_file;
    }
    if (pin && o.threads == 1) {
        if (bench::pin_to({cpus[0]})) t.client_cpus = std::to_string(cpus[0]);
    }
    cfg.base_url = t.base_url;
    cfg.thread_safe = o.thread_safe;
    cfg.rate_budget.enabled = o.rate_budget;
    if (o.budget_rate > 0) {
        cfg.rate_budget.enabled = true;
        cfg.rate_budget.account_per_second = o.budget_rate;
        cfg.rate_budget.endpoint_per_second = o.budget_rate;
    }
    if (!o.shared_budget.empty()) {
        cfg.rate_budget.enabled = true;
        cfg.shared_budget.url = o.shared_budget;
        cfg.shared_budget.fleet_size = o.fleet_size;
        if (!o.rate_budget && o.budget_rate == 0) { // the round trip's cost, not Stripe's ceiling
            cfg.rate_budget.account_per_second = 1e6;
            cfg.rate_budget.endpoint_per_second = 1e6;
            cfg.rate_budget.burst = 1e6;
        }
    }
    cfg.max_pending = std::max<std::size_t>(cfg.max_pending, o.concurrency);
    const char* method = nullptr;
    if (o.mode == mode_kind::pooled) {
        cfg.max_connections = o.connections;
    } else {
        cfg.max_connections = 1;
        if (!cfg.ca_file.empty()) { // parse the CA from memory on every call rather than read the file
            std::ifstream in(cfg.ca_file, std::ios::binary);
            cfg.ca_pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            if (cfg.ca_pem.empty()) throw std::runtime_error("cannot read " + cfg.ca_file);
            cfg.ca_file.clear();
        }
        method = "a fresh stripe_asio::client (max_connections 1, CA from memory) per call: new TLS context, "
                 "TCP connection and full TLS handshake every time";
    }

    load_result r = run_load(o, cfg, server ? &*server : nullptr);
    if (server) server->stop();
    return report_load(o, t, r, method);
}

// ---- --pending: memory per call waiting for a connection

/// Accepts connections and never answers them: a client's TLS handshake on them never ends.
asio::awaitable<void> hold_connections(asio::ip::tcp::acceptor& listener, std::vector<asio::ip::tcp::socket>& held) {
    for (;;) {
        auto [ec, socket] = co_await listener.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        held.push_back(std::move(socket));
    }
}

int pending_main(const options& o) {
    using namespace std::chrono_literals;
    asio::io_context ioc(1);
    asio::ip::tcp::acceptor listener(ioc, asio::ip::tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    std::vector<asio::ip::tcp::socket> held;
    held.reserve(o.connections);
    asio::co_spawn(ioc, hold_connections(listener, held), asio::detached);

    stripe_asio::config cfg;
    cfg.api_key = o.api_key;
    cfg.base_url = "https://127.0.0.1:" + std::to_string(listener.local_endpoint().port());
    cfg.ca_file = o.ca_file;
    cfg.max_connections = o.connections;
    cfg.max_pending = o.pending;
    cfg.attempt_timeout = std::chrono::hours(1);
    cfg.retry.max_retries = 0;
    cfg.thread_safe = o.thread_safe;
    cfg.rate_budget.enabled = o.rate_budget;
    std::optional<stripe_asio::client> client(std::in_place, ioc.get_executor(), cfg);

    std::uint64_t completed = 0;
    std::map<std::string, std::uint64_t> outcomes;
    auto start_call = [&] {
        client->create_login_link(
            o.account, [&completed, &outcomes](error_code ec, stripe_asio::diagnostics, stripe_asio::login_link) {
                ++completed;
                ++outcomes[stripe_asio::error_kind(ec)];
            });
    };
    auto run_until = [&ioc](auto done, clock_type::duration limit) {
        const auto give_up = clock_type::now() + limit;
        while (!done() && clock_type::now() < give_up)
            if (ioc.poll() == 0) ioc.run_one_for(10ms);
        return done();
    };

    // Every connection busy: P calls stuck in a handshake the listener never answers.
    for (std::uint64_t i = 0; i < o.connections; ++i) start_call();
    bool busy = run_until(
        [&] { return held.size() == o.connections && client->stats().calls_in_flight == o.connections; }, 30s);
    ioc.run_for(100ms); // let the ClientHellos go out
    if (!busy) {
        std::cerr << "login_link_bench: only " << held.size() << " of " << o.connections
                  << " connections reached the listener\n";
        return 1;
    }

    malloc_trim(0);
    const std::uint64_t rss_before = resident_bytes();
    bench::alloc::track_live_bytes(true);
    const auto allocs_before = bench::alloc::snapshot();
    const auto start = clock_type::now();
    for (std::uint64_t i = 0; i < o.pending; ++i) start_call();
    run_until([&] { return client->stats().waiters >= o.pending; }, 120s);
    const double queue_seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    const std::uint64_t reached = client->stats().waiters;
    const auto allocs_after = bench::alloc::snapshot();
    bench::alloc::track_live_bytes(false);
    malloc_trim(0);
    const std::uint64_t rss_after = resident_bytes();

    // Destroying the client completes every call: the waiters and the stuck handshakes.
    const auto stop_start = clock_type::now();
    client.reset();
    const std::uint64_t expected = o.pending + o.connections;
    run_until([&] { return completed >= expected; }, 120s);
    const double complete_seconds = std::chrono::duration<double>(clock_type::now() - stop_start).count();
    listener.close();
    held.clear();
    ioc.run();

    const double n = static_cast<double>(o.pending);
    const double per_call_rss = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / n;
    const bool counted = bench::alloc::counting();
    const double per_call_heap =
        counted ? static_cast<double>(allocs_after.live_bytes - allocs_before.live_bytes) / n : bench::not_measured;
    const double per_call_allocs =
        counted ? static_cast<double>(allocs_after.mallocs - allocs_before.mallocs) / n : bench::not_measured;

    std::ostringstream table;
    table << "stripe-asio " << stripe_asio::version << " pending calls (callback handlers"
          << (o.thread_safe ? ", thread-safe client" : "") << ")\n"
          << "  connections   " << o.connections << " held in a TLS handshake by a listener that never answers\n"
          << "  pending       " << reached << " of " << o.pending << " reached in " << bench::fixed(queue_seconds, 3)
          << " s; " << completed << " of " << expected << " calls completed after shutdown in "
          << bench::fixed(complete_seconds, 3) << " s\n";
    for (const auto& [kind, count] : outcomes) table << "    " << kind << ": " << count << '\n';
    table << "  RSS           " << rss_before << " -> " << rss_after << " bytes: " << bench::fixed(per_call_rss, 0)
          << " bytes per pending call\n"
          << "  heap          " << bench::fixed(per_call_heap, 0) << " bytes live, " << bench::fixed(per_call_allocs, 2)
          << " allocations per pending call\n";
    if (o.json_out != "-") std::cout << table.str() << std::flush;
    else std::cerr << table.str() << std::flush;

    bool written = true;
    if (!o.json_out.empty()) {
        bench::json_writer j;
        j.field("client", "stripe-asio")
            .field("mode", "pending")
            .field("pending_requested", o.pending)
            .field("pending_reached", reached)
            .field("calls_completed", completed)
            .field("calls_expected", expected)
            .field("outcomes", outcomes)
            .field("connections", o.connections)
            .field("thread_safe", o.thread_safe)
            .field("rss_before_bytes", rss_before)
            .field("rss_after_bytes", rss_after)
            .number("bytes_per_pending_call", per_call_rss, 1)
            .number("heap_bytes_per_pending_call", per_call_heap, 1)
            .number("allocations_per_pending_call", per_call_allocs, 2)
            .number("queue_seconds", queue_seconds, 6)
            .number("complete_seconds", complete_seconds, 6)
            .field("peak_rss_bytes", peak_rss_bytes())
            .field("library_version", stripe_asio::version)
            .field("date", utc_now());
        written = write_json(o.json_out, j.str());
    }
    return reached == o.pending && completed == expected && written ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse_options(argc, argv);
    try {
        return o.pending > 0 ? pending_main(o) : load_main(o);
    } catch (const std::exception& e) {
        std::cerr << "login_link_bench: " << e.what() << '\n';
        return 1;
    }
}
