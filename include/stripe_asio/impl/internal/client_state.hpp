// The client's state, shared by all its calls: configuration, the executor its steps run on (a
// strand when thread-safe), the TLS context, the pool, the rate limiter and retry budget, the
// random source for keys, the counters, and the one way a connection comes back (give_back).
// Engine-only: included by impl/client.ipp, never by a user's translation unit on its own.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_CLIENT_STATE_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_CLIENT_STATE_HPP

#include <stripe_asio/client.hpp>
#include <stripe_asio/detail/answer_binding.hpp>
#include <stripe_asio/detail/arena_allocator.hpp>
#include <stripe_asio/detail/base_url.hpp>
#include <stripe_asio/detail/block_cache.hpp>
#include <stripe_asio/impl/internal/call_state.hpp>
#include <stripe_asio/impl/internal/connection.hpp>
#include <stripe_asio/detail/form_encoding.hpp>
#include <stripe_asio/detail/http_request.hpp>
#include <stripe_asio/detail/io_faults.hpp>
#include <stripe_asio/detail/stream_source_seam.hpp>
#include <stripe_asio/detail/pool_state.hpp>
#include <stripe_asio/detail/response_parsing.hpp>
#include <stripe_asio/detail/retry_budget.hpp>
#include <stripe_asio/detail/retry_decision.hpp>
#include <stripe_asio/detail/retry_policy.hpp>
#include <stripe_asio/detail/server_text.hpp>
#include <stripe_asio/detail/rate_budgets.hpp>
#include <stripe_asio/detail/uuid.hpp>
#include <stripe_asio/detail/validation.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/core/error.hpp>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <algorithm>
#include <atomic>
#include <limits>
#include <cstring>
#include <random>

namespace stripe_asio::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// What one response may cost; the body limit is the user's.
inline response_limits response_limits_for(const config& cfg) noexcept {
    response_limits limits;
    limits.body_bytes = cfg.max_response_bytes;
    return limits;
}

struct stat_counters {
    std::atomic<std::uint64_t> calls_started{0}, calls_succeeded{0}, calls_failed{0}, attempts{0}, retries{0},
        stale_resends{0}, connections_opened{0}, connections_closed{0}, connect_failures{0}, tls_full{0},
        tls_resumed{0}, reuses{0}, in_flight{0}, waiters{0}, idle{0}, open{0}, idle_evictions{0}, stale_detected{0},
        rate_limited{0}, retries_throttled{0}, budget_refusals{0}, budget_waiters{0}, limited_answers{0},
        limited_global_rate{0}, limited_endpoint_rate{0}, limited_global_concurrency{0},
        limited_endpoint_concurrency{0}, limited_resource_specific{0}, shared_reserved{0}, shared_fallbacks{0},
        shared_failures{0}, redis_connections{0}, answers_refused{0};
};

inline void bump(std::atomic<std::uint64_t>& c, std::int64_t by = 1) noexcept {
    c.fetch_add(static_cast<std::uint64_t>(by), std::memory_order_relaxed);
}

using pool_type = pool_state<connection>;

class shared_budget; ///< impl/internal/shared_budget.hpp (builds with STRIPE_ASIO_WITH_REDIS)

/// The executor of a call's steps: the client's strand when it is thread-safe, else the
/// user's executor. One pointer wide, so handlers carry it for free and Asio's work tracking
/// never copies a type-erased strand (a heap allocation each time).
class step_executor {
public:
    explicit step_executor(client_impl& c) noexcept : client_(&c) {}
    template <class Function>
    void execute(Function&& f) const;
    asio::execution_context& query(asio::execution::context_t) const noexcept;
    constexpr asio::execution::blocking_t query(asio::execution::blocking_t) const noexcept {
        return never_blocks_ ? asio::execution::blocking_t(asio::execution::blocking.never)
                             : asio::execution::blocking_t(asio::execution::blocking.possibly);
    }
    step_executor require(asio::execution::blocking_t::never_t) const noexcept {
        step_executor e(*this);
        e.never_blocks_ = true;
        return e;
    }
    step_executor require(asio::execution::blocking_t::possibly_t) const noexcept {
        step_executor e(*this);
        e.never_blocks_ = false;
        return e;
    }
    friend bool operator==(const step_executor& a, const step_executor& b) noexcept {
        return a.client_ == b.client_ && a.never_blocks_ == b.never_blocks_;
    }
    friend bool operator!=(const step_executor& a, const step_executor& b) noexcept { return !(a == b); }

private:
    client_impl* client_;
    bool never_blocks_ = false; ///< post semantics: never run the function inside execute()
};

class client_impl {
public:
    client_impl(asio::any_io_executor user, config c, base_url_parts parts)
        : cfg(std::move(c)), url(std::move(parts)), user_ex(std::move(user)), ex(make_client_executor()),
          watchdog(user_ex), upkeep(user_ex), tls(ssl::context::tls_client), pool(cfg.max_connections, cfg.max_pending),
          budgets(cfg.rate_budget, is_live_key(cfg.api_key)),
          login_link_endpoint(budgets.endpoint("POST /v1/accounts/:account/login_links")),
          fallback_share(make_fallback_share(cfg)), budget(cfg.retry.budget_max_tokens, cfg.retry.budget_token_ratio),
          jitter(std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)) {
        fixed_headers = make_fixed_headers(url.host_header, cfg.api_key, cfg.stripe_version, version);
        boost::system::error_code not_ip;
        asio::ip::make_address(url.host, not_ip);
        host_is_ip = !not_ip;
        setup_tls();
    }

    ~client_impl() {
        if (session) SSL_SESSION_free(session);
    }

    config cfg;
    base_url_parts url;
    bool host_is_ip = false;
    std::string fixed_headers;
    asio::any_io_executor user_ex; ///< sockets and timers live here
    // Thread-safe clients: the strand where every step of every call runs. Over an io_context
    // it is a strand of the concrete executor type: a strand over any_io_executor queries the
    // type-erased executor on every hand-off, and Asio 1.81 allocates for such a query.
    std::optional<asio::strand<asio::io_context::executor_type>> io_strand;
    std::optional<asio::strand<asio::any_io_executor>> any_strand;
    asio::any_io_executor ex; ///< the strand, or user_ex: the same place, type-erased

    asio::any_io_executor make_client_executor() {
        if (!cfg.thread_safe) return user_ex;
        if (auto* io = user_ex.target<asio::io_context::executor_type>()) {
            io_strand.emplace(*io);
            return *io_strand;
        }
        any_strand.emplace(user_ex);
        return *any_strand;
    }

    // The attempt timeout: one timer for the client, set for the earliest expiry among the
    // attempts in progress, rather than one per read and write.
    engine_timer watchdog;
    intrusive_list<call_state, attempt_tag> attempts; ///< calls with an attempt in progress
    clock_type::time_point watchdog_at = clock_type::time_point::max(); ///< max: not waiting
    std::uint64_t watchdog_generation = 0; ///< tells a current wait from one superseded
    bool watchdog_check_queued = false; ///< a watchdog_idle_check is on its way
    engine_timer upkeep; ///< min_idle > 0 only: the periodic check of idle connections
    ssl::context tls;
    pool_type pool;
    rate_budgets budgets; ///< the account's and the endpoints' (strand only)
    std::size_t login_link_endpoint; ///< its budget's index, fixed when the client is made
    /// With a shared budget: this client's share of the budgets, used while Redis can't be
    /// (made like `budgets`, so an endpoint's index is the same in both).
    std::optional<rate_budgets> fallback_share;
    std::shared_ptr<shared_budget> shared; ///< the shared budget's I/O, when configured

    static std::optional<rate_budgets> make_fallback_share(const config& cfg) {
        if (cfg.shared_budget.url.empty() || !cfg.rate_budget.enabled) return std::nullopt;
        bool live = is_live_key(cfg.api_key);
        std::optional<rate_budgets> share;
        share.emplace(share_of(cfg.rate_budget, live, cfg.shared_budget.fleet_size), live);
        share->endpoint("POST /v1/accounts/:account/login_links");
        return share;
    }
    retry_budget budget;
    answer_binding binding{cfg.key_echo}; ///< what binds an answer to its request (strand only)
    std::vector<std::unique_ptr<connection>> connections;
    intrusive_list<call_state, live_call_tag> calls; ///< live calls, for shutdown
    jitter_source jitter;
    bool shut_down = false;

    /// Random bytes for idempotency keys, drawn from OpenSSL's CSPRNG 4 KiB at a time: one
    /// RAND_bytes call per key costs about 3 us (and a getpid) on every call.
    std::array<std::uint8_t, 4096> random_pool{};
    std::size_t random_used = random_pool.size();

    bool random_bytes(std::uint8_t* out, std::size_t n) {
        if (random_used + n > random_pool.size()) {
            if (RAND_bytes(random_pool.data(), int(random_pool.size())) != 1) return false;
            random_used = 0;
        }
        std::memcpy(out, random_pool.data() + random_used, n);
        // Used bytes are wiped so a key can't be read back from the pool later.
        std::memset(random_pool.data() + random_used, 0, n);
        random_used += n;
        return true;
    }
    stat_counters counters;
    io_faults* faults = nullptr; ///< tests only: see io_faults.hpp
    stream_source* streams = nullptr; ///< tests only: where streams come from (else TLS over TCP)

    /// The error the operation about to start must complete with (a test's fault), or none.
    boost::system::error_code fault(io_point p) { return faults ? faults->next(p) : boost::system::error_code{}; }

    SSL_SESSION* session = nullptr; ///< the latest session the server gave, for resumption

    void setup_tls() {
        SSL_CTX* ctx = tls.native_handle();
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        tls.set_verify_mode(ssl::verify_peer);
        boost::system::error_code ec;
        if (cfg.ca_file.empty() && cfg.ca_pem.empty()) {
            tls.set_default_verify_paths(ec);
            if (ec) fail_config("cannot load the system trust store: " + ec.message());
        }
        if (!cfg.ca_file.empty()) {
            tls.load_verify_file(cfg.ca_file, ec);
            if (ec) fail_config("config.ca_file: cannot load " + cfg.ca_file + ": " + ec.message());
        }
        if (!cfg.ca_pem.empty()) {
            tls.add_certificate_authority(asio::buffer(cfg.ca_pem), ec);
            if (ec) fail_config("config.ca_pem: not a PEM certificate: " + ec.message());
        }
        // Keep the newest session the server hands out, so reconnects resume instead of doing a
        // full handshake (TLS 1.3 tickets arrive after the handshake, hence the callback).
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        // Asio keeps its verify callback in the context's app data, so ours goes in ex data.
        SSL_CTX_set_ex_data(ctx, ex_data_index(), this);
        SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* s) -> int {
            auto* self = static_cast<client_impl*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_data_index()));
            if (self->session) SSL_SESSION_free(self->session);
            self->session = s;
            return 1; // we own it now
        });
    }

    static int ex_data_index() {
        static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        return index;
    }

    [[noreturn]] static void fail_config(std::string why) {
        diagnostics diag;
        diag.detail = std::move(why);
        throw error_with_diagnostics(errc::invalid_config, std::move(diag));
    }

    /// A new connection, not yet open (defined with the client's streams, tls_stream.hpp).
    connection& add_connection();

    void destroy(connection* c) noexcept {
        c->close();
        auto it = std::find_if(connections.begin(), connections.end(), [c](auto& p) { return p.get() == c; });
        if (it != connections.end()) connections.erase(it);
    }

    /// How a connection comes back to the pool.
    enum class given_back {
        reusable, ///< served a request and may serve another
        unused, ///< handed on without a request on it: it keeps its idle age
        closed, ///< was open and must not serve again: closed and counted
        never_opened, ///< its opening failed or never started: nothing open to count
    };

    /// The one way a slot comes back: its connection too when reusable, to the oldest waiter or
    /// else the pool. `c` null: only the slot (taken for a connection never made).
    void give_back(connection* c, given_back how) noexcept {
        if (c && how == given_back::never_opened) {
            destroy(c);
            c = nullptr;
        } else if (c && (how == given_back::closed || shut_down)) {
            close_connection(c);
            c = nullptr;
        }
        if (c && how == given_back::reusable) c->idle_since = clock_type::now();
        if (auto* w = pool.release(c)) {
            wake(w);
        } else if (c) {
            bump(counters.idle);
        }
    }

    /// A waiter was handed a slot: wake it (it finds `granted` set).
    void wake(pool_type::waiter* w) noexcept {
        bump(counters.waiters, -1);
        static_cast<call_state*>(w)->timer.cancel();
    }

    /// Closes the connections idle for idle_timeout or longer. Runs whenever a call takes a
    /// connection, so nothing is reused after the server may have dropped it; no timer is kept,
    /// so an unused client never holds its io_context's run() open.
    void evict_expired_idle() {
        if (cfg.idle_timeout.count() == 0) return;
        auto oldest_allowed = clock_type::now() - cfg.idle_timeout;
        // Reuse is LIFO, so the longest idle sit at the front.
        while (!pool.idle().empty() && pool.idle().front()->idle_since <= oldest_allowed) {
            connection* c = pool.idle().front();
            if (auto* w = pool.evict_idle(c)) wake(w);
            close_connection(c);
            bump(counters.idle, -1);
            bump(counters.idle_evictions);
        }
    }

    /// Closes an open connection and counts it; what happens to its slot is the caller's choice.
    void close_connection(connection* c) noexcept {
        destroy(c);
        bump(counters.connections_closed);
        bump(counters.open, -1);
    }

    void shutdown() {
        if (shut_down) return;
        shut_down = true;
        // Idle connections go now; those in use are closed, which fails their pending I/O, and
        // their calls give the slots back.
        for (connection* idle : std::vector<connection*>(pool.idle())) {
            if (auto* w = pool.evict_idle(idle)) wake(w);
            close_connection(idle);
            bump(counters.idle, -1);
        }
        for (auto& c : connections) c->close();
        interrupt_calls();
        ++watchdog_generation;
        watchdog_at = clock_type::time_point::max();
        watchdog.cancel();
        upkeep.cancel();
        close_shared_budget();
    }

    /// Closes the connections to Redis (defined with the shared budget; nothing without one).
    void close_shared_budget();

    /// Tells every live call the client is shutting down (defined with the engine's steps).
    void interrupt_calls() noexcept;

    /// Closes the idle connections whose socket shows the server closed them.
    void evict_closed_idle() {
        for (connection* idle : std::vector<connection*>(pool.idle())) {
            if (idle->quiet()) continue;
            if (auto* w = pool.evict_idle(idle)) wake(w);
            close_connection(idle);
            bump(counters.idle, -1);
            bump(counters.stale_detected);
        }
    }
};

template <class Function>
void step_executor::execute(Function&& f) const {
    auto run_on = [&f, this](const auto& executor) {
        if (never_blocks_) asio::require(executor, asio::execution::blocking.never).execute(std::forward<Function>(f));
        else executor.execute(std::forward<Function>(f));
    };
    if (client_->io_strand) {
        run_on(*client_->io_strand);
    } else if (client_->any_strand) {
        run_on(*client_->any_strand);
    } else {
        run_on(client_->user_ex);
    }
}

/// Queues `f` on the client's executor with its memory from the block cache, so a function
/// queued on every call (the attempt timer's idle check) costs no allocation; through a strand,
/// the strand's own hand-off to the io_context uses it too.
template <class Function>
void post_from_cache(client_impl& c, Function&& f) {
    auto run_on = [&f](const auto& executor) {
        asio::prefer(asio::require(executor, asio::execution::blocking.never),
                     asio::execution::allocator(cached_allocator<void>{}))
            .execute(std::forward<Function>(f));
    };
    if (c.io_strand) {
        run_on(*c.io_strand);
    } else if (c.any_strand) {
        run_on(*c.any_strand);
    } else {
        run_on(c.user_ex);
    }
}

inline asio::execution_context& step_executor::query(asio::execution::context_t) const noexcept {
    return asio::query(client_->user_ex, asio::execution::context);
}

} // namespace stripe_asio::detail

#endif
