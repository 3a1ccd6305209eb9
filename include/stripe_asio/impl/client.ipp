// The client's engine. Each call is one call_state (see call_op.hpp), carried from step to step
// by the completions of its waits and I/O on the client's executor (a strand when
// config::thread_safe): validate, then attempts over pooled connections with retries, backoff,
// deadlines and cancellation. Decisions come from the sans-io pieces (pool_state, retry_state);
// this file does only the I/O around them.
#ifndef STRIPE_ASIO_IMPL_CLIENT_IPP
#define STRIPE_ASIO_IMPL_CLIENT_IPP

#include <stripe_asio/client.hpp>
#include <stripe_asio/detail/arena_allocator.hpp>
#include <stripe_asio/detail/base_url.hpp>
#include <stripe_asio/detail/block_cache.hpp>
#include <stripe_asio/detail/call_state.hpp>
#include <stripe_asio/detail/connection.hpp>
#include <stripe_asio/detail/form_encoding.hpp>
#include <stripe_asio/detail/http_request.hpp>
#include <stripe_asio/detail/io_faults.hpp>
#include <stripe_asio/detail/pool_state.hpp>
#include <stripe_asio/detail/response_parsing.hpp>
#include <stripe_asio/detail/retry_budget.hpp>
#include <stripe_asio/detail/retry_decision.hpp>
#include <stripe_asio/detail/retry_policy.hpp>
#include <stripe_asio/detail/server_text.hpp>
#include <stripe_asio/detail/token_bucket.hpp>
#include <stripe_asio/detail/uuid.hpp>
#include <stripe_asio/detail/validation.hpp>
#include <stripe_asio/impl/config.ipp>
#include <stripe_asio/impl/diagnostics.ipp>
#include <stripe_asio/impl/error.ipp>
#include <stripe_asio/impl/response_parsing.ipp>

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
#include <boost/asio/steady_timer.hpp>
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
#include <atomic>
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
        rate_limited{0}, retries_throttled{0};
};

inline void bump(std::atomic<std::uint64_t>& c, std::int64_t by = 1) noexcept {
    c.fetch_add(static_cast<std::uint64_t>(by), std::memory_order_relaxed);
}

using pool_type = pool_state<connection>;

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
          limiter(cfg.max_requests_per_second, cfg.rate_limit_burst),
          budget(cfg.retry.budget_max_tokens, cfg.retry.budget_token_ratio),
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
    asio::steady_timer watchdog;
    intrusive_list<call_state, attempt_tag> attempts; ///< calls with an attempt in progress
    clock_type::time_point watchdog_at = clock_type::time_point::max(); ///< max: not waiting
    std::uint64_t watchdog_generation = 0; ///< tells a current wait from one superseded
    bool watchdog_check_queued = false; ///< a watchdog_idle_check is on its way
    asio::steady_timer upkeep; ///< min_idle > 0 only: the periodic check of idle connections
    ssl::context tls;
    pool_type pool;
    token_bucket limiter;
    retry_budget budget;
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

    connection& add_connection() {
        connections.push_back(std::make_unique<connection>(user_ex, tls, response_limits_for(cfg)));
        return *connections.back();
    }

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
    }

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

inline bool cancelled(asio::cancellation_state st) noexcept { return st.cancelled() != asio::cancellation_type::none; }

inline bool is_certificate_failure(const boost::system::error_code& ec) noexcept {
    return ec.category() == asio::error::get_ssl_category() && ERR_GET_LIB(ec.value()) == ERR_LIB_SSL &&
           ERR_GET_REASON(ec.value()) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

/// Maps a socket-level failure of an attempt to the library's error.
inline error_code transport_error(const boost::system::error_code& ec) {
    if (is_certificate_failure(ec)) return errc::tls_verification_failed;
    return errc::connection_error;
}

/// Maps a failure while writing a request or reading its answer to the library's error: our
/// own (the response reader's limits), the HTTP parser's, or the transport's.
inline error_code exchange_error(const boost::system::error_code& ec) {
    if (ec.category() == error_category()) return ec;
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return errc::response_too_large;
    // A cut answer is the connection's fault; any other parser error is an answer that is not HTTP.
    bool parser_error = ec.category() == make_error_code(http::error::bad_version).category();
    if (parser_error && ec != http::error::partial_message && ec != http::error::end_of_stream)
        return errc::malformed_response;
    return transport_error(ec);
}

/// A name lookup that nobody has to wait for. getaddrinfo cannot be interrupted, so when the
/// attempt's time runs out, or the call is cancelled or the client shut down, the wait ends at
/// once and the lookup finishes on its own, in the background, with nobody to tell.
struct name_lookup {
    explicit name_lookup(const asio::any_io_executor& ex) : resolver(ex), done(ex, clock_type::time_point::max()) {}
    tcp::resolver resolver;
    asio::steady_timer done; ///< its wait ends when the lookup does, or when the opener gives up
    tcp::resolver::results_type results;
    boost::system::error_code ec;
    bool finished = false;
};

inline awaitable<boost::system::error_code> resolve(client_impl& c, tcp::resolver::results_type& out) {
    if (auto injected = c.fault(io_point::resolve)) co_return injected;
    auto lookup = std::make_shared<name_lookup>(c.user_ex);
    lookup->resolver.async_resolve(
        c.url.host, c.url.port,
        asio::bind_executor(c.ex, [lookup](const boost::system::error_code& ec, tcp::resolver::results_type r) {
            lookup->ec = ec;
            lookup->results = std::move(r);
            lookup->finished = true;
            lookup->done.cancel();
        }));
    co_await lookup->done.async_wait(use_tuple); // cancellable, unlike the lookup
    if (!lookup->finished) co_return asio::error::operation_aborted;
    out = std::move(lookup->results);
    co_return lookup->ec;
}

/// Resolve, connect, TLS handshake with the peer verified. Returns the failure, if any.
inline awaitable<boost::system::error_code> open_connection(client_impl& c, connection& conn, std::string& detail) {
    // Cancellation (the caller's, or the attempt timeout's) is observed explicitly: the caller
    // gives the slot back either way.
    co_await asio::this_coro::throw_if_cancelled(false);
    auto& tcp_layer = conn.stream.next_layer();
    boost::system::error_code cec;
    if (c.host_is_ip) {
        // An address needs no lookup (and no resolver thread).
        tcp::endpoint endpoint(asio::ip::make_address(c.url.host), static_cast<unsigned short>(std::stoi(c.url.port)));
        if (!(cec = c.fault(io_point::connect))) std::tie(cec) = co_await tcp_layer.async_connect(endpoint, use_tuple);
    } else {
        tcp::resolver::results_type endpoints;
        auto rec = co_await resolve(c, endpoints);
        if (rec) {
            detail = "resolving " + c.url.host + ": " + rec.message();
            co_return rec;
        }
        if (c.shut_down || cancelled(co_await asio::this_coro::cancellation_state))
            co_return asio::error::operation_aborted;
        tcp::endpoint ignored_endpoint;
        if (!(cec = c.fault(io_point::connect)))
            std::tie(cec, ignored_endpoint) = co_await asio::async_connect(tcp_layer, endpoints, use_tuple);
    }
    if (cec) {
        detail = "connecting to " + c.url.host_header + ": " + cec.message();
        co_return cec;
    }
    if (c.shut_down || cancelled(co_await asio::this_coro::cancellation_state))
        co_return asio::error::operation_aborted;
    boost::system::error_code ignored;
    tcp_layer.set_option(tcp::no_delay(true), ignored);

    SSL* ssl = conn.stream.native_handle();
    // Asio asks OpenSSL to free its buffers between records; keeping them saves three 16 KiB
    // allocations per request at the cost of memory per idle connection.
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (c.host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, c.url.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, c.url.host.c_str());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, c.url.host.c_str(), 0);
    }
    if (c.session) SSL_set_session(ssl, c.session);
    if (c.shut_down) co_return asio::error::operation_aborted;
    boost::system::error_code hec = c.fault(io_point::handshake);
    if (!hec) std::tie(hec) = co_await conn.stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) {
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
            detail = std::string("TLS certificate verification failed: ") + X509_verify_cert_error_string(verify);
            if (!is_certificate_failure(hec)) co_return boost::system::error_code(errc::tls_verification_failed);
        } else {
            detail = "TLS handshake: " + hec.message();
        }
        co_return hec;
    }
    bump(SSL_session_reused(ssl) ? c.counters.tls_resumed : c.counters.tls_full);
    co_return boost::system::error_code{};
}

// min_idle: connections opened ahead of demand, and a periodic upkeep that closes the idle ones
// which expired or which the server closed, then opens new ones up to min_idle again.

/// Opens one spare connection in a slot already taken for it; it goes idle (or to a waiter).
inline awaitable<void> open_spare(std::shared_ptr<client_impl> self, connection& conn) {
    using namespace asio::experimental::awaitable_operators;
    client_impl& c = *self;
    std::string detail;
    asio::steady_timer limit(c.user_ex, c.cfg.attempt_timeout);
    auto first = co_await (open_connection(c, conn, detail) || limit.async_wait(use_tuple));
    boost::system::error_code ec = first.index() == 0 ? std::get<0>(first) : asio::error::timed_out;
    if (ec || c.shut_down) {
        c.give_back(&conn, client_impl::given_back::never_opened);
        bump(c.counters.connect_failures);
        co_return; // the next upkeep tries again
    }
    bump(c.counters.connections_opened);
    bump(c.counters.open);
    c.give_back(&conn, client_impl::given_back::reusable);
}

inline void keep_warm(const std::shared_ptr<client_impl>& self) {
    client_impl& c = *self;
    // `connections` counts those being opened too, by calls and by earlier upkeeps.
    while (!c.shut_down && c.connections.size() < c.cfg.min_idle && c.pool.take_spare_slot())
        asio::co_spawn(c.ex, open_spare(self, c.add_connection()), asio::detached);
}

inline void on_upkeep(const std::shared_ptr<client_impl>& self, const boost::system::error_code& ec);

struct upkeep_step {
    std::shared_ptr<client_impl> client;

    using allocator_type = cached_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    using executor_type = step_executor;
    executor_type get_executor() const noexcept { return step_executor(*client); }
    void operator()(const boost::system::error_code& ec) const { on_upkeep(client, ec); }
};

inline void schedule_upkeep(const std::shared_ptr<client_impl>& self) {
    using std::chrono::milliseconds;
    auto half = self->cfg.idle_timeout / 2;
    auto period = self->cfg.idle_timeout.count() > 0
                      ? std::clamp<milliseconds>(half, milliseconds(50), milliseconds(1000))
                      : milliseconds(1000);
    self->upkeep.expires_after(period);
    self->upkeep.async_wait(upkeep_step{self});
}

inline void on_upkeep(const std::shared_ptr<client_impl>& self, const boost::system::error_code& ec) {
    if (ec || self->shut_down) return;
    self->evict_expired_idle();
    self->evict_closed_idle();
    keep_warm(self);
    schedule_upkeep(self);
}

/// Writes this call's request into the connection's reusable buffer.
inline void write_request(const client_impl& c, const call_state& call, std::string& out) {
    request_parts parts;
    parts.method = call.method;
    parts.target = call.target.view();
    parts.body = call.body;
    parts.has_body = call.has_body;
    parts.idempotency_key = call.idempotency_key.view();
    parts.stripe_account = call.stripe_account.view();
    out.clear();
    append_request(out, c.fixed_headers, parts);
}

// The engine. A call is a chain of steps, each started by the completion of the wait or I/O
// before it; every step runs on the client's executor. No step blocks, and none but the first
// runs inside the initiating function.

inline void carry_out(call_state& call, call_action next);
inline void reserve_budget(call_state& call);
inline void take_connection(call_state& call);
inline void on_queue_waited(call_state& call, const boost::system::error_code&, std::size_t);
inline void use_slot(call_state& call, connection* conn);
inline void on_woken(call_state& call, const boost::system::error_code&, std::size_t);
inline void send_request(call_state& call);
inline void on_written(call_state& call, const boost::system::error_code& ec, std::size_t);
inline void read_more(call_state& call);
inline void on_read(call_state& call, const boost::system::error_code& ec, std::size_t bytes);
inline void response_read(call_state& call);
inline void connection_opened(call_state& call, const boost::system::error_code& ec);
inline void exchange_failed(call_state& call, const boost::system::error_code& ec, bool got_some,
                            const char* why = nullptr);
inline void close_failed_exchange(call_state& call);
inline void attempt_failed(call_state& call, std::string_view body);
inline void attempt_ended(call_state& call) noexcept;
inline void abandon_call(call_state& call) noexcept;

/// Owns the call while one of its operations is pending. An operation destroyed without being
/// run (its execution context was destroyed first) takes the call with it, as Asio does with
/// its own operations, instead of leaking it.
class call_ref {
public:
    explicit call_ref(call_state& c) noexcept : call_(&c) {}
    call_ref(call_ref&& other) noexcept : call_(std::exchange(other.call_, nullptr)) {}
    call_ref& operator=(call_ref&&) = delete;
    ~call_ref() {
        // Unwinding: an operation could not be started (out of memory); the step that tried
        // mends the call (guarded_step). Otherwise the execution context is going away.
        if (call_ && std::uncaught_exceptions() == 0) abandon_call(*call_);
    }
    call_state* operator->() const noexcept { return call_; }
    call_state& release() noexcept { return *std::exchange(call_, nullptr); }

private:
    call_state* call_;
};

/// Out of memory inside one of the call's steps: whatever the step had taken is given back (a
/// connection half used is closed) and the call ends with errc::out_of_memory.
inline void out_of_memory(call_state& call) {
    client_impl& c = *call.client;
    if (call.finished) { // its bookkeeping is done, its completion was not (the call is still here)
        call.fail(errc::out_of_memory, diagnostics{});
        return;
    }
    if (call.machine.opening() && call.conn) { // the opening never started
        c.give_back(std::exchange(call.conn, nullptr), client_impl::given_back::never_opened);
    }
    if (call.queued()) {
        c.pool.remove(call);
        bump(c.counters.waiters, -1);
    }
    call.conn_reusable = false;
    fail_call(call, errc::out_of_memory, {});
}

/// Runs one step of `call`. When memory runs out inside it and the call is still there, the call
/// is ended cleanly; once it has been completed and freed, the exception goes on to run().
template <class Step>
void guarded_step(call_state& call, Step&& step) {
    bool alive = true;
    bool* outer = std::exchange(call.alive, &alive);
    try {
        step();
    } catch (const std::bad_alloc&) {
        if (!alive) throw;
        call.alive = outer;
        out_of_memory(call);
        return;
    }
    if (alive) call.alive = outer;
}

/// The completion handler of every wait and I/O of a call: it carries the call to its next
/// step, on the client's executor; its memory comes from the block cache. It has no
/// cancellation slot: cancel_call() cancels the timer or the socket itself, which spares every
/// operation the cost of installing a cancellation handler.
struct call_step {
    call_ref call;
    void (*next)(call_state&, const boost::system::error_code&, std::size_t bytes);

    using allocator_type = cached_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    using executor_type = step_executor;
    executor_type get_executor() const noexcept { return step_executor(*call->client); }

    void operator()(const boost::system::error_code& ec, std::size_t bytes = 0) {
        call_state& c = call.release();
        c.suspended = true;
        guarded_step(c, [&] { next(c, ec, bytes); });
    }
};

using step_function = void (*)(call_state&, const boost::system::error_code&, std::size_t);

/// A test's fault for the operation about to start: when there is one, the step after it is
/// queued with the fault's error, as the operation would have completed, and true is returned.
inline bool completed_by_fault(call_state& call, io_point point, step_function next) {
    client_impl& c = *call.client;
    if (!c.faults) return false;
    boost::system::error_code injected = c.fault(point);
    if (!injected) return false;
    asio::post(step_executor(c), [step = call_step{call_ref(call), next}, injected]() mutable { step(injected, 0); });
    return true;
}

/// Waits on the call's timer until `when` (or until woken, cancelled or shut down).
inline void wait_until(call_state& call, clock_type::time_point when, step_function next) {
    call.timer.expires_at(when);
    if (completed_by_fault(call, io_point::wait, next)) return;
    call.timer.async_wait(call_step{call_ref(call), next});
}

// The attempt timeout. Every attempt in progress (connecting, writing, reading) is in the
// client's list with its expiry; one timer waits for the earliest. When it fires, expired
// attempts have their I/O cancelled and end with attempt_timeout (deadline_exceeded when the
// call's deadline was the limit). Attempts usually expire in the order they start, so under
// load the timer is set once per timeout period, not once per request. It is let go when no
// attempt is left, so it never keeps the user's io_context running, but only after the steps
// already queued have run: a caller that starts its next call at once (a loop at concurrency 1)
// finds it still set, for an earlier expiry, and it is not set again.

inline void on_watchdog(const std::shared_ptr<client_impl>& c, std::uint64_t generation);

struct watchdog_step {
    std::shared_ptr<client_impl> client;
    std::uint64_t generation;

    using allocator_type = cached_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    using executor_type = step_executor;
    executor_type get_executor() const noexcept { return step_executor(*client); }
    void operator()(const boost::system::error_code&) const { on_watchdog(client, generation); }
};

inline void arm_watchdog(const std::shared_ptr<client_impl>& c, clock_type::time_point at) {
    ++c->watchdog_generation; // a wait already under way is superseded
    c->watchdog.expires_at(at); // and cancelled: until the new wait starts, nothing waits
    c->watchdog_at = clock_type::time_point::max();
    c->watchdog.async_wait(watchdog_step{c, c->watchdog_generation});
    c->watchdog_at = at; // only once waiting: if the wait could not start, the next attempt arms it
}

inline void attempt_started(call_state& call) {
    client_impl& c = *call.client;
    c.attempts.push_front(call);
    auto expiry = call.machine.watched_expiry();
    if (expiry < c.watchdog_at) arm_watchdog(call.client, expiry);
}

inline void stop_watchdog(client_impl& c) noexcept {
    if (c.watchdog_at == clock_type::time_point::max()) return;
    c.watchdog_at = clock_type::time_point::max();
    ++c.watchdog_generation;
    c.watchdog.cancel();
}

/// Runs after the steps queued when the last attempt ended: stops the timer if still idle.
struct watchdog_idle_check {
    std::shared_ptr<client_impl> client;

    void operator()() const {
        client->watchdog_check_queued = false;
        if (client->attempts.empty()) stop_watchdog(*client);
    }
};

inline void attempt_ended(call_state& call) noexcept {
    if (!call.in_attempt()) return;
    client_impl& c = *call.client;
    unlink_from(c.attempts, call);
    if (!c.attempts.empty() || c.watchdog_at == clock_type::time_point::max() || c.watchdog_check_queued) return;
    try {
        post_from_cache(c, watchdog_idle_check{call.client});
        c.watchdog_check_queued = true;
    } catch (const std::bad_alloc&) {
        stop_watchdog(c); // no memory to wait with: stop it now
    }
}

/// Interrupts what the call is waiting for, as its machine says.
inline void interrupt_io(call_state& call, interrupt what) noexcept {
    switch (what) {
    case interrupt::none: return;
    case interrupt::timer: call.timer.cancel(); return;
    case interrupt::opening: call.io_signal.emit(asio::cancellation_type::terminal); return;
    case interrupt::exchange:
        // The exchange fails with operation_aborted and the connection is closed: a response
        // half read cannot be resumed anyway.
        if (call.conn) call.conn->cancel_io();
        return;
    }
}

inline void client_impl::interrupt_calls() noexcept {
    for (call_state& call : calls) interrupt_io(call, call.machine.shutdown());
}

inline void on_watchdog(const std::shared_ptr<client_impl>& c, std::uint64_t generation) {
    if (generation != c->watchdog_generation) return; // superseded or cancelled
    c->watchdog_at = clock_type::time_point::max();
    auto now = clock_type::now();
    auto next = clock_type::time_point::max();
    for (call_state& call : c->attempts) {
        if (call.machine.timed_out()) continue;
        auto expiry = call.machine.watched_expiry();
        if (expiry > now) {
            next = std::min(next, expiry);
            continue;
        }
        interrupt_io(call, call.machine.expire(now));
    }
    if (next != clock_type::time_point::max()) arm_watchdog(c, next);
}

/// The call's own key, when the caller gave none: fixed once, so every attempt sends it.
inline bool make_idempotency_key(client_impl& c, call_state& call) {
    if (!call.wants_key || !call.idempotency_key.empty()) return true;
    std::array<std::uint8_t, 16> bytes{};
    if (!c.random_bytes(bytes.data(), bytes.size())) return false;
    auto key = format_uuid_v4(bytes);
    call.idempotency_key.assign(std::string_view(key.data(), key.size()));
    return true;
}

/// Terminal and partial cancellation both end a call; total alone is not supported (a POST on
/// the wire cannot be undone).
inline bool ends_call(asio::cancellation_type type) noexcept {
    return (type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) !=
           asio::cancellation_type::none;
}

/// Where a thread-safe client's caller slot sends cancellation: to the client's strand, and on
/// to the call if it is still running. Shared by the slot's handler and the call.
struct cancel_relay {
    cancel_relay(call_state* c, asio::any_io_executor s) : call(c), strand(std::move(s)) {}
    call_state* call; ///< null once the call finished; read and written on the strand only
    asio::any_io_executor strand;
    std::atomic<bool> requested{false}; ///< set by the caller's thread
};

/// Carries out the actions that need nothing but the call. The others are carried out where
/// they arise, with what is at hand there (a slot, a connection, an answer).
inline void carry_out(call_state& call, call_action next) {
    call_machine& m = call.machine;
    switch (next) {
    case call_action::reserve_budget: reserve_budget(call); return;
    case call_action::take_connection: take_connection(call); return;
    case call_action::wait: wait_until(call, m.wake_at(), &on_woken); return;
    case call_action::wait_in_queue: wait_until(call, m.deadline(), &on_queue_waited); return;
    case call_action::send_request: send_request(call); return;
    case call_action::complete: fail_call(call, m.error(), m.why() ? std::string(m.why()) : std::string()); return;
    default: BOOST_ASSERT_MSG(false, "carried out where it arises"); return;
    }
}

/// The first step, on the client's executor. A cancellation that came before it ends the call
/// here, before anything is sent.
inline void begin_call(call_state& call) {
    client_impl& c = *call.client;
    bump(c.counters.calls_started);
    bump(c.counters.in_flight);
    c.calls.push_front(call);
    call_machine& m = call.machine;
    if (call.relay && call.relay->requested.load(std::memory_order_relaxed)) m.cancel();
    call_action next = m.start(call.refused, call.refusal, c.shut_down);
    if (next != call_action::complete && !make_idempotency_key(c, call)) {
        fail_call(call, errc::invalid_config, "the system's random source failed");
        return;
    }
    carry_out(call, next);
}

/// Starts an attempt: through the rate limiter (every attempt is a request Stripe counts), then
/// to a connection.
inline void reserve_budget(call_state& call) {
    client_impl& c = *call.client;
    call.status = 0;
    call.should_retry.reset();
    call.replayed = false;
    if (!c.limiter.enabled()) {
        carry_out(call, call.machine.budget_reserved(clock_type::duration::zero(), {}));
        return;
    }
    auto now = clock_type::now();
    auto wait = c.limiter.reserve(now, call.machine.deadline());
    if (wait && wait->count() > 0) bump(c.counters.rate_limited);
    carry_out(call, call.machine.budget_reserved(wait, now));
}

/// The wait for the rate limiter or for backoff ended (or was cut short).
inline void on_woken(call_state& call, const boost::system::error_code&, std::size_t) {
    carry_out(call, call.machine.woken(clock_type::now()));
}

/// An idle connection, a free slot to open one in, or a place in the queue.
inline void take_connection(call_state& call) {
    client_impl& c = *call.client;
    c.evict_expired_idle();
    auto got = c.pool.acquire(call.machine.fresh());
    connection* conn = got.connection;
    switch (got.kind) {
    case pool_type::acquire_kind::reuse: bump(c.counters.idle, -1); break;
    case pool_type::acquire_kind::open: break;
    case pool_type::acquire_kind::replace:
        bump(c.counters.idle, -1);
        c.close_connection(conn);
        conn = nullptr;
        break;
    case pool_type::acquire_kind::overflow: carry_out(call, call.machine.overflowed()); return;
    case pool_type::acquire_kind::wait:
        call.granted = false;
        call.connection = nullptr;
        c.pool.enqueue(call);
        bump(c.counters.waiters);
        carry_out(call, call.machine.queued());
        return;
    }
    use_slot(call, conn);
}

/// Woken: handed a slot by give_back() (the timer was cancelled), or the deadline, the caller or
/// a shutdown ended the wait.
inline void on_queue_waited(call_state& call, const boost::system::error_code&, std::size_t) {
    client_impl& c = *call.client;
    call_action next =
        call.machine.queue_woken(call.granted, call.granted ? clock_type::time_point{} : clock_type::now());
    if (next == call_action::wait_in_queue) { // woken for nothing: still in the queue
        carry_out(call, next);
        return;
    }
    if (next == call_action::complete) {
        if (call.granted) {
            c.give_back(call.connection, client_impl::given_back::unused); // on to the next waiter
        } else {
            c.pool.remove(call);
            bump(c.counters.waiters, -1);
        }
        carry_out(call, next);
        return;
    }
    connection* conn = call.connection;
    if (call.machine.fresh() && conn) {
        c.close_connection(conn);
        conn = nullptr;
    }
    use_slot(call, conn);
}

/// The call holds a slot: `conn` to reuse, or null to open a new connection in it.
inline void use_slot(call_state& call, connection* conn) {
    client_impl& c = *call.client;
    // Every reuse first reads what is waiting, without blocking: a close by the server is
    // replaced before sending rather than found after, and bytes left over from an earlier
    // answer (a duplicate, garbage) must never be read as this call's answer.
    if (conn && !conn->quiet()) {
        bump(c.counters.stale_detected);
        c.close_connection(conn);
        conn = nullptr;
    }
    call_action next = call.machine.taken(conn != nullptr, clock_type::now(), c.cfg.connect_timeout);
    if (next == call_action::complete) {
        c.give_back(conn, client_impl::given_back::unused);
        carry_out(call, next);
        return;
    }
    try {
        attempt_started(call);
    } catch (const std::bad_alloc&) { // the slot (and connection) are not the call's yet
        c.give_back(conn, client_impl::given_back::unused);
        throw;
    }
    if (next == call_action::send_request) {
        call.conn = conn;
        bump(c.counters.reuses);
        send_request(call);
        return;
    }
    try {
        call.conn = &c.add_connection();
    } catch (const std::bad_alloc&) {
        c.give_back(nullptr, client_impl::given_back::never_opened); // the slot taken for it
        throw;
    }
    struct on_opened {
        call_ref call;
        void operator()(std::exception_ptr e, boost::system::error_code ec) {
            call_state& opened_for = call.release();
            guarded_step(opened_for, [&] {
                if (e) { // open_connection throws nothing but bad_alloc; nothing is opening now
                    opened_for.suspended = true;
                    opened_for.client->give_back(std::exchange(opened_for.conn, nullptr),
                                                 client_impl::given_back::never_opened);
                    std::rethrow_exception(e);
                }
                connection_opened(opened_for, ec);
            });
        }
    };
    asio::co_spawn(
        c.ex, open_connection(c, *call.conn, call.machine.report().detail),
        asio::bind_cancellation_slot(call.io_signal.slot(), asio::bind_executor(c.ex, on_opened{call_ref(call)})));
}

inline void connection_opened(call_state& call, const boost::system::error_code& ec) {
    client_impl& c = *call.client;
    call.suspended = true;
    bool certificate_failure = ec == errc::tls_verification_failed || is_certificate_failure(ec);
    if (call.machine.opened(ec, transport_error(ec), certificate_failure) == call_action::send_request) {
        bump(c.counters.connections_opened);
        bump(c.counters.open);
        send_request(call);
        return;
    }
    attempt_ended(call);
    c.give_back(std::exchange(call.conn, nullptr), client_impl::given_back::never_opened);
    bump(c.counters.connect_failures);
    attempt_failed(call, {});
}

inline void send_request(call_state& call) {
    client_impl& c = *call.client;
    connection& conn = *call.conn;
    bump(c.counters.attempts);
    write_request(c, call, conn.out);
    if (completed_by_fault(call, io_point::write, &on_written)) return;
    asio::async_write(conn.stream, asio::buffer(conn.out), call_step{call_ref(call), &on_written});
}

inline void on_written(call_state& call, const boost::system::error_code& ec, std::size_t) {
    client_impl& c = *call.client;
    connection& conn = *call.conn;
    if (call.machine.written(ec, exchange_error(ec)) != call_action::read_response) {
        close_failed_exchange(call);
        return;
    }
    conn.reader.start(response_limits_for(c.cfg));
    read_more(call);
}

/// Reads what the socket has into the connection's buffer (bounded: see response_limits).
inline void read_more(call_state& call) {
    connection& conn = *call.conn;
    auto space = beast::read_size(conn.buffer, 64 * 1024);
    if (space == 0) { // the reader refuses a full buffer first; this is the backstop
        exchange_failed(call, errc::response_too_large, true);
        return;
    }
    auto into = conn.buffer.prepare(space);
    if (completed_by_fault(call, io_point::read, &on_read)) return;
    conn.stream.async_read_some(into, call_step{call_ref(call), &on_read});
}

inline void on_read(call_state& call, const boost::system::error_code& ec, std::size_t bytes) {
    connection& conn = *call.conn;
    conn.buffer.commit(bytes);
    if (call.machine.read_interrupted(ec)) {
        exchange_failed(call, ec ? ec : asio::error::operation_aborted, conn.reader.got_some());
        return;
    }
    boost::system::error_code parse_ec;
    read_progress progress;
    if (!ec) {
        progress = conn.reader.feed(conn.buffer, parse_ec);
    } else if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
        // A body delimited by the close (HTTP/1.0), or a cut answer.
        progress = conn.reader.feed(conn.buffer, parse_ec);
        if (!parse_ec && progress == read_progress::need_more) progress = conn.reader.end_of_stream(parse_ec);
    } else {
        exchange_failed(call, ec, conn.reader.got_some());
        return;
    }
    if (parse_ec) {
        exchange_failed(call, parse_ec, conn.reader.got_some());
        return;
    }
    if (progress == read_progress::need_more) {
        read_more(call);
        return;
    }
    response_read(call);
}

/// A complete answer is in the connection's reader.
inline void response_read(call_state& call) {
    client_impl& c = *call.client;
    connection& conn = *call.conn;
    const response_reader& res = conn.reader;
    // Stripe echoes the request's key. Another key means the answer belongs to another request:
    // the connection is out of step, and nothing read on it can be trusted.
    if (auto echoed = res.field("Idempotency-Key"); !echoed.empty() && echoed != call.idempotency_key.view()) {
        exchange_failed(call, errc::connection_error, true,
                        "the answer's Idempotency-Key is another request's: the connection was out of step");
        return;
    }
    // A complete response counts even if the attempt's time ran out as it arrived.
    attempt_ended(call);
    call.status = res.status();
    capture_request_id(conn.request_id, res.field("Request-Id"), c.cfg.api_key);
    if (auto v = res.field("Stripe-Should-Retry"); !v.empty()) {
        if (beast::iequals(v, "true")) call.should_retry = true;
        else if (beast::iequals(v, "false")) call.should_retry = false;
    }
    if (auto v = res.field("Idempotent-Replayed"); !v.empty()) call.replayed = beast::iequals(v, "true");
    call.conn_reusable = res.keep_alive() && conn.nothing_buffered();
    // A large answer's buffer is not kept for the life of the connection.
    if (conn.buffer.capacity() > 16 * 1024 && conn.buffer.size() == 0) conn.buffer.shrink_to_fit();
    std::string_view body = res.body();
    if (call.machine.response_complete(call.status) == call_action::deliver) {
        c.budget.on_success();
        call.deliver(body,
                     conn.request_id); // the typed half parses, finishes (giving the connection back) and completes
        return;
    }
    attempt_failed(call, body);
}

/// The machine judged the exchange failed: the connection is closed, its slot given back, and
/// the failure judged.
inline void close_failed_exchange(call_state& call) {
    attempt_ended(call);
    call.client->give_back(std::exchange(call.conn, nullptr), client_impl::given_back::closed);
    attempt_failed(call, {});
}

/// The write or the read failed (or the call was interrupted meanwhile).
inline void exchange_failed(call_state& call, const boost::system::error_code& ec, bool got_some, const char* why) {
    call.machine.exchange_failed(ec, exchange_error(ec), got_some, why);
    close_failed_exchange(call);
}

/// Gives back the connection the call holds: to the pool (or the next waiter) when it can serve
/// again, else closed.
inline void give_back_connection(call_state& call) noexcept {
    if (!call.conn) return;
    client_impl& c = *call.client;
    c.give_back(std::exchange(call.conn, nullptr),
                call.conn_reusable ? client_impl::given_back::reusable : client_impl::given_back::closed);
}

/// After a failed attempt (no response, or an error status whose `body` is read while the
/// connection is still held): records it, then stops the call or goes again, after a backoff.
inline void attempt_failed(call_state& call, std::string_view body) {
    client_impl& c = *call.client;
    call_machine& m = call.machine;
    attempt_report& rep = m.report();
    answer_facts answer;
    answer.status = call.status;
    answer.should_retry = call.should_retry;

    diagnostics& diag = call.failure();
    diagnostics fields;
    if (!rep.ec) {
        parse_stripe_error(body, fields);
        answer.lock_timeout = fields.code == "lock_timeout";
    }
    attempt_record record;
    if (call.conn) record.request_id = call.conn->request_id.str(); // an answer came on it
    give_back_connection(call);
    record.ec = rep.ec ? rep.ec : error_code(errc_from_status(call.status, fields.type));
    record.http_status = call.status;
    record.reused_connection = rep.reused;
    record.stale_connection = rep.stale;

    const auto [next, decided] = m.after_failure(
        answer, record.ec, c.budget, [&c] { return c.jitter.next(); }, clock_type::now());
    if (decided.stale_resend) bump(c.counters.stale_resends);
    if (decided.retry) bump(c.counters.retries);
    if (decided.throttled) {
        bump(c.counters.retries_throttled);
        rep.detail += rep.detail.empty() ? "not retried: the client's retry budget is spent"
                                         : " (not retried: the client's retry budget is spent)";
    }
    record.wait_before_next = decided.wait;
    if (next == call_action::complete) {
        diag.http_status = call.status;
        diag.request_id = record.request_id;
        diag.detail = std::move(rep.detail);
        diag.type = std::move(fields.type);
        diag.code = std::move(fields.code);
        diag.decline_code = std::move(fields.decline_code);
        diag.message = std::move(fields.message);
        diag.param = std::move(fields.param);
        diag.doc_url = std::move(fields.doc_url);
    }
    diag.failed_attempts.push_back(std::move(record));
    carry_out(call, next);
}

inline void cancel_call(call_state& call, asio::cancellation_type type) {
    if (call.finished || !ends_call(type)) return;
    interrupt_io(call, call.machine.cancel());
}

STRIPE_ASIO_DECL void connect_cancellation(call_state& call, asio::cancellation_slot slot) {
    if (!call.client->cfg.thread_safe) {
        struct direct {
            call_state* call;
            void operator()(asio::cancellation_type type) const { cancel_call(*call, type); }
        };
        slot.template emplace<direct>(direct{&call});
        return;
    }
    call.relay = std::make_shared<cancel_relay>(&call, call.client->ex);
    struct relayed {
        std::shared_ptr<cancel_relay> relay;
        void operator()(asio::cancellation_type type) const {
            // Seen at once by a call whose first step is still queued on the strand.
            if (ends_call(type)) relay->requested.store(true, std::memory_order_relaxed);
            asio::dispatch(relay->strand, [relay = relay, type] {
                if (relay->call) cancel_call(*relay->call, type);
            });
        }
    };
    slot.template emplace<relayed>(relayed{call.relay});
}

STRIPE_ASIO_DECL void finish_call(call_state& call, bool succeeded) noexcept {
    client_impl& c = *call.client;
    attempt_ended(call);
    give_back_connection(call);
    call.finished = true;
    call.machine.finish();
    unlink_from(c.calls, call);
    if (call.relay) call.relay->call = nullptr;
    bump(c.counters.in_flight, -1);
    bump(succeeded ? c.counters.calls_succeeded : c.counters.calls_failed);
}

/// A pending operation of the call was destroyed without running: its execution context is
/// going away. Nothing can complete the call; it leaves the client's lists and is freed, its
/// handler destroyed without being invoked. Its connection, if it held one, stays with the
/// client, which is closing too. No timer or socket is touched: their services are shutting down.
inline void abandon_call(call_state& call) noexcept {
    client_impl& c = *call.client;
    unlink_from(c.attempts, call);
    c.pool.remove(call);
    if (call.listed()) {
        unlink_from(c.calls, call);
        bump(c.counters.in_flight, -1);
    }
    if (call.relay) call.relay->call = nullptr;
    call.finished = true;
    call.machine.finish();
    call.drop();
}

/// Every string in the diagnostics may hold what a server sent (request ids are already clean).
inline void redact_server_text(diagnostics& diag, std::string_view api_key) {
    for (std::string* field : {&diag.type, &diag.code, &diag.decline_code, &diag.message, &diag.param, &diag.doc_url,
                               &diag.request_id, &diag.detail})
        redact_key(*field, api_key);
}

STRIPE_ASIO_DECL void fail_call(call_state& call, error_code ec, std::string why) {
    // A 2xx whose body is not what was promised: its Request-Id, while its connection is held.
    std::string answered_id = ec == errc::malformed_response && call.conn ? call.conn->request_id.str() : std::string();
    finish_call(call, false);
    diagnostics diag;
    if (call.diag) diag = std::move(*call.diag);
    if (!why.empty()) diag.detail = std::move(why);
    if (ec == errc::malformed_response && diag.http_status == 0) {
        diag.http_status = call.status; // a 2xx whose body is not what was promised
        diag.request_id = std::move(answered_id);
    }
    diag.attempts = call.machine.attempts();
    diag.idempotency_key = call.idempotency_key.str();
    redact_server_text(diag, call.client->cfg.api_key);
    call.fail(ec, std::move(diag));
}

/// The call being handed to the executor on this thread, until its first step starts.
inline thread_local call_state* launching = nullptr;

/// Hands the call to the client's executor (it runs at once when already there).
inline void launch(call_state& call) {
    struct begin {
        call_ref call;
        using allocator_type = cached_allocator<void>;
        allocator_type get_allocator() const noexcept { return {}; }
        void operator()() {
            call_state& c = call.release();
            launching = nullptr; // begun: from here on its steps mend it
            guarded_step(c, [&] { begin_call(c); });
        }
    };
    launching = &call;
    try {
        asio::dispatch(step_executor(*call.client), begin{call_ref(call)});
    } catch (const std::bad_alloc&) {
        // Not even begun: the caller gets the exception and nothing is left behind.
        if (std::exchange(launching, nullptr) == &call) call.drop();
        throw;
    }
    launching = nullptr;
}

STRIPE_ASIO_DECL std::shared_ptr<client_impl> make_client_impl(asio::any_io_executor ex, config cfg) {
    cfg.validate();
    std::string why;
    auto parts = parse_base_url(cfg.base_url, why);
    auto impl = std::make_shared<client_impl>(std::move(ex), std::move(cfg), std::move(*parts));
    if (impl->cfg.min_idle > 0) {
        asio::dispatch(impl->ex, [impl] {
            keep_warm(impl);
            schedule_upkeep(impl);
        });
    }
    return impl;
}

STRIPE_ASIO_DECL void shutdown_client(const std::shared_ptr<client_impl>& impl) {
    asio::dispatch(impl->ex, [impl] { impl->shutdown(); });
}

STRIPE_ASIO_DECL client_stats read_stats(const client_impl& impl) {
    auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    const auto& k = impl.counters;
    client_stats s;
    s.calls_started = get(k.calls_started);
    s.calls_succeeded = get(k.calls_succeeded);
    s.calls_failed = get(k.calls_failed);
    s.attempts = get(k.attempts);
    s.retries = get(k.retries);
    s.stale_resends = get(k.stale_resends);
    s.connections_opened = get(k.connections_opened);
    s.connections_closed = get(k.connections_closed);
    s.connect_failures = get(k.connect_failures);
    s.tls_full_handshakes = get(k.tls_full);
    s.tls_resumed_handshakes = get(k.tls_resumed);
    s.connection_reuses = get(k.reuses);
    s.calls_in_flight = get(k.in_flight);
    s.waiters = get(k.waiters);
    s.idle_connections = get(k.idle);
    s.open_connections = get(k.open);
    s.idle_evictions = get(k.idle_evictions);
    s.stale_detected_before_use = get(k.stale_detected);
    s.rate_limited_waits = get(k.rate_limited);
    s.retries_throttled = get(k.retries_throttled);
    return s;
}

STRIPE_ASIO_DECL asio::any_io_executor user_executor(const client_impl& impl) noexcept { return impl.user_ex; }

STRIPE_ASIO_DECL bool client_is_thread_safe(const client_impl& c) noexcept { return c.cfg.thread_safe; }

STRIPE_ASIO_DECL void set_io_faults(client_impl& c, io_faults* plan) noexcept { c.faults = plan; }

/// Checks the caller's options and takes from them what the call keeps: its key, the account
/// header, the deadline and the retry budget. The first problem found is refused at the first step.
inline void apply_options(const client_impl& c, call_state& call, const request_options* given) {
    const request_options none;
    const request_options& opts = given ? *given : none;
    auto refuse = [&call](errc e, const char* reason) {
        if (call.refusal) return;
        call.refused = e;
        call.refusal = reason;
    };
    if (opts.idempotency_key.truncated() ||
        (!opts.idempotency_key.empty() && !is_valid_idempotency_key(opts.idempotency_key)))
        refuse(errc::invalid_idempotency_key, "idempotency key must be 1 to 255 visible ASCII characters");
    if (opts.stripe_account.truncated() || (!opts.stripe_account.empty() && !is_valid_account_id(opts.stripe_account)))
        refuse(errc::invalid_request_options, "stripe_account must be acct_ followed by letters and digits");
    if (opts.attempt_timeout && opts.attempt_timeout->count() <= 0)
        refuse(errc::invalid_request_options, "attempt_timeout must be positive");
    if (opts.call_timeout && opts.call_timeout->count() < 0)
        refuse(errc::invalid_request_options, "call_timeout must not be negative");
    if (call.refusal) return; // refused: it sends nothing, so its diagnostics name no key
    if (call.wants_key) call.idempotency_key.assign(opts.idempotency_key.view());
    call.stripe_account.assign(opts.stripe_account.view());
    auto total = opts.call_timeout.value_or(c.cfg.call_timeout);
    call.machine.set_limits(total.count() > 0 ? clock_type::now() + total : clock_type::time_point::max(),
                            opts.attempt_timeout.value_or(c.cfg.attempt_timeout), c.cfg.retry,
                            opts.max_retries.value_or(c.cfg.retry.max_retries));
}

/// Runs `fill` (what the call will send), then launches the call. Running out of memory before
/// the launch frees the call, and the caller gets the exception, as launch() does.
template <class Fill>
void fill_and_launch(call_state& call, Fill&& fill) {
    try {
        fill();
    } catch (const std::bad_alloc&) {
        call.drop();
        throw;
    }
    launch(call);
}

inline void fill_login_link(call_state& call, const account_id_arg& account, const request_options* options) {
    const client_impl& c = *call.client;
    if (is_valid_account_id(account.view())) {
        // A valid id is letters, digits and '_': nothing in it needs percent-encoding.
        call.target += c.url.prefix;
        call.target += "/v1/accounts/";
        call.target += account.view();
        call.target += "/login_links";
    } else {
        call.refused = errc::invalid_account_id;
        call.refusal = "account id must be acct_ followed by letters and digits, at most 255 characters";
    }
    apply_options(c, call, options);
}

STRIPE_ASIO_DECL void start_login_link(call_state& call, const account_id_arg& account,
                                       const request_options* options) {
    fill_and_launch(call, [&] { fill_login_link(call, account, options); });
}

inline void fill_request(call_state& call, http_method method, const std::string& path, const form_params& params,
                         const request_options* options) {
    const client_impl& c = *call.client;
    bool valid = path.size() > 4 && path.compare(0, 4, "/v1/") == 0;
    for (char ch : path)
        if (!(is_unreserved(ch) || ch == '/')) valid = false;
    // No empty, "." or ".." segments: the path must name exactly what it says.
    for (std::string_view bad : {"//", "/./", "/../"})
        if ((path + "/").find(bad) != std::string::npos) valid = false;
    if (!valid) {
        call.refused = errc::invalid_request_options;
        call.refusal = "path must start with /v1/ and hold only letters, digits and / - . _ ~";
    }
    std::string form = encode_form(params);
    call.target += c.url.prefix;
    call.target += path;
    switch (method) {
    case http_method::post:
        call.method = "POST";
        call.body = std::move(form);
        break;
    case http_method::get:
    case http_method::delete_:
        call.method = method == http_method::get ? "GET" : "DELETE";
        call.has_body = false;
        call.wants_key = false;
        if (!form.empty()) {
            call.target += "?";
            call.target += form;
        }
        break;
    }
    apply_options(c, call, options);
}

STRIPE_ASIO_DECL void start_request(call_state& call, http_method method, std::string path, form_params params,
                                    const request_options* options) {
    fill_and_launch(call, [&] { fill_request(call, method, path, params, options); });
}

} // namespace stripe_asio::detail

#endif
