// The client's engine: one coroutine per call, on the client's executor (a strand when
// config::thread_safe), which validates, builds the request once, then runs attempts over pooled
// connections with retries, backoff, deadlines and cancellation. Decisions come from the sans-io
// pieces (pool_state, retry_state); this file does only the I/O around them.
#ifndef STRIPE_ASIO_IMPL_CLIENT_IPP
#define STRIPE_ASIO_IMPL_CLIENT_IPP

#include <stripe_asio/client.hpp>
#include <stripe_asio/detail/arena_allocator.hpp>
#include <stripe_asio/detail/base_url.hpp>
#include <stripe_asio/detail/connection.hpp>
#include <stripe_asio/detail/form_encoding.hpp>
#include <stripe_asio/detail/http_request.hpp>
#include <stripe_asio/detail/pool_state.hpp>
#include <stripe_asio/detail/response_parsing.hpp>
#include <stripe_asio/detail/retry_policy.hpp>
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
#include <boost/asio/dispatch.hpp>
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

/// A connection that sat idle this long is checked for a close by the server before reuse.
inline constexpr std::chrono::milliseconds liveness_check_after{250};
inline constexpr std::size_t max_response_header_bytes = 16 * 1024;

struct stat_counters {
    std::atomic<std::uint64_t> calls_started{0}, calls_succeeded{0}, calls_failed{0}, attempts{0}, retries{0},
        stale_resends{0}, connections_opened{0}, connections_closed{0}, connect_failures{0}, tls_full{0},
        tls_resumed{0}, reuses{0}, in_flight{0}, waiters{0}, idle{0}, open{0}, idle_evictions{0},
        stale_detected{0}, rate_limited{0};
};

inline void bump(std::atomic<std::uint64_t>& c, std::int64_t by = 1) noexcept {
    c.fetch_add(static_cast<std::uint64_t>(by), std::memory_order_relaxed);
}

/// What a call sends, fixed before its first attempt. The request bytes themselves are written
/// into the connection's own buffer at each attempt, so a waiting call holds none of them.
struct call_spec {
    request_options options;
    const char* method = "POST";
    std::string target;   ///< path and query, encoded
    std::string body;     ///< form body (POST)
    bool has_body = true; ///< POST: Content-Type and Content-Length, even for an empty body
    bool wants_key = true;
    errc refused{};       ///< set when the input was already found bad
    const char* refusal = nullptr;
};

/// One call while it runs. It lives in the call's coroutine frame, which is what a call costs
/// while it waits for a connection: keep it small. Per-attempt state (parser, buffers) lives in
/// exchange()'s frame, which exists only while the call holds a connection.
struct call_context {
    explicit call_context(const asio::any_io_executor& ex) : timer(ex) {}

    std::array<char, uuid_text_length> generated_key{};
    std::string_view idempotency_key; ///< the caller's, or generated_key
    clock_type::time_point deadline = clock_type::time_point::max();
    std::chrono::milliseconds attempt_timeout{};
    unsigned max_retries = 0;
    unsigned attempts = 0;
    asio::steady_timer timer;     ///< waits for the rate limiter, a connection, and backoff
    call_context* prev = nullptr; ///< in the client's list of live calls, for shutdown
    call_context* next = nullptr;

    // The last response.
    unsigned status = 0;
    std::string body;
    fixed_string<64> request_id;
    std::optional<bool> should_retry;
    bool replayed = false;
    bool stale_resent = false;

    std::unique_ptr<diagnostics> diag; ///< made on the first failed attempt
    diagnostics& failure() {
        if (!diag) diag = std::make_unique<diagnostics>();
        return *diag;
    }
};

using pool_type = pool_state<connection>;

struct call_waiter : pool_type::waiter {
    asio::steady_timer* timer = nullptr;
};

class client_impl {
public:
    client_impl(asio::any_io_executor user, config c, base_url_parts parts)
        : cfg(std::move(c)), url(std::move(parts)), user_ex(std::move(user)),
          ex(cfg.thread_safe ? asio::any_io_executor(asio::make_strand(user_ex)) : user_ex),
          tls(ssl::context::tls_client), pool(cfg.max_connections, cfg.max_pending),
          limiter(cfg.max_requests_per_second, cfg.rate_limit_burst),
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
    asio::any_io_executor user_ex;
    asio::any_io_executor ex; ///< where every call and every socket of the client runs
    ssl::context tls;
    pool_type pool;
    token_bucket limiter;
    std::vector<std::unique_ptr<connection>> connections;
    call_context* calls = nullptr;
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

    void link(call_context& c) noexcept {
        c.next = calls;
        if (calls) calls->prev = &c;
        calls = &c;
    }
    void unlink(call_context& c) noexcept {
        (c.prev ? c.prev->next : calls) = c.next;
        if (c.next) c.next->prev = c.prev;
        c.prev = c.next = nullptr;
    }

    connection& add_connection() {
        connections.push_back(std::make_unique<connection>(ex, tls));
        return *connections.back();
    }

    void destroy(connection* c) noexcept {
        c->close();
        auto it = std::find_if(connections.begin(), connections.end(), [c](auto& p) { return p.get() == c; });
        if (it != connections.end()) connections.erase(it);
    }

    /// Gives a slot back: `reusable` when the connection may serve again, else null (closed).
    void release(connection* reusable) noexcept {
        if (reusable && shut_down) {
            close_connection(reusable);
            reusable = nullptr;
        }
        if (reusable) reusable->idle_since = clock_type::now();
        if (auto* w = pool.release(reusable)) {
            wake(w);
        } else if (reusable) {
            bump(counters.idle);
        }
    }

    /// A waiter was handed a slot: wake it (it finds `granted` set).
    void wake(pool_type::waiter* w) noexcept {
        bump(counters.waiters, -1);
        static_cast<call_waiter*>(w)->timer->cancel();
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

    /// Closes a connection that was in use and frees its slot.
    void discard(connection* c) noexcept {
        close_connection(c);
        release(nullptr);
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
        for (call_context* c = calls; c; c = c->next) c->timer.cancel();
    }
};

inline bool cancelled(asio::cancellation_state st) noexcept { return st.cancelled() != asio::cancellation_type::none; }

inline bool is_certificate_failure(const boost::system::error_code& ec) noexcept {
    return ec.category() == asio::error::get_ssl_category() && ERR_GET_LIB(ec.value()) == ERR_LIB_SSL &&
           ERR_GET_REASON(ec.value()) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

/// How one attempt went, before the retry rules look at it.
struct attempt_report {
    error_code ec;          ///< set when there is no usable response
    std::string detail;     ///< the transport's own words
    bool reused = false;
    bool stale = false;     ///< failed on a reused connection before any response byte
    bool certificate_failure = false;
    bool unusable = false;  ///< nothing to retry: refused locally, or an answer that cannot be used
};

/// Maps a socket-level failure of an attempt to the library's error.
inline error_code transport_error(const boost::system::error_code& ec, bool deadline_bound) {
    if (ec == beast::error::timeout) return deadline_bound ? errc::deadline_exceeded : errc::attempt_timeout;
    if (ec == http::error::body_limit || ec == http::error::header_limit) return errc::response_too_large;
    if (is_certificate_failure(ec)) return errc::tls_verification_failed;
    return errc::connection_error;
}

/// The error a call ends with when it stops waiting for something.
inline error_code interruption(const client_impl& c, bool was_cancelled) {
    if (was_cancelled) return asio::error::operation_aborted;
    if (c.shut_down) return errc::client_shut_down;
    return errc::deadline_exceeded;
}

/// Resolve, connect, TLS handshake with the peer verified. Returns the failure, if any.
inline awaitable<boost::system::error_code> open_connection(client_impl& c, connection& conn, std::string& detail) {
    auto& tcp_layer = beast::get_lowest_layer(conn.stream);
    boost::system::error_code cec;
    if (c.host_is_ip) {
        // An address needs no lookup (and no resolver thread).
        tcp::endpoint endpoint(asio::ip::make_address(c.url.host), static_cast<unsigned short>(std::stoi(c.url.port)));
        std::tie(cec) = co_await tcp_layer.async_connect(endpoint, use_tuple);
    } else {
        // Name lookups run on Asio's resolver thread and are bounded by the system resolver's
        // own timeouts, not by attempt_timeout (getaddrinfo cannot be interrupted).
        tcp::resolver resolver(c.ex);
        auto [rec, endpoints] = co_await resolver.async_resolve(c.url.host, c.url.port, use_tuple);
        if (rec) {
            detail = "resolving " + c.url.host + ": " + rec.message();
            co_return rec;
        }
        if (c.shut_down || cancelled(co_await asio::this_coro::cancellation_state))
            co_return asio::error::operation_aborted;
        tcp::endpoint ignored_endpoint;
        std::tie(cec, ignored_endpoint) = co_await tcp_layer.async_connect(endpoints, use_tuple);
    }
    if (cec) {
        detail = "connecting to " + c.url.host_header + ": " + cec.message();
        co_return cec;
    }
    if (c.shut_down || cancelled(co_await asio::this_coro::cancellation_state)) co_return asio::error::operation_aborted;
    boost::system::error_code ignored;
    tcp_layer.socket().set_option(tcp::no_delay(true), ignored);

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
    auto [hec] = co_await conn.stream.async_handshake(ssl::stream_base::client, use_tuple);
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

/// Writes this call's request into the connection's reusable buffer.
inline void write_request(const client_impl& c, const call_spec& spec, const call_context& call, std::string& out) {
    request_parts parts;
    parts.method = spec.method;
    parts.target = spec.target;
    parts.body = spec.body;
    parts.has_body = spec.has_body;
    parts.idempotency_key = call.idempotency_key;
    parts.stripe_account = spec.options.stripe_account;
    out.clear();
    append_request(out, c.fixed_headers, parts);
}

/// One exchange on a connection the call holds (`conn`, or a new one opened in its slot when
/// null): the request out, the response in, the connection given back. Fills `call` with the
/// response, or `rep` with what went wrong.
inline awaitable<void> exchange(client_impl& c, const call_spec& spec, call_context& call, connection* conn,
                                attempt_report& rep) {
    bool deadline_bound = call.deadline <= clock_type::now() + call.attempt_timeout;
    auto expiry = deadline_bound ? call.deadline : clock_type::now() + call.attempt_timeout;
    if (!conn) {
        conn = &c.add_connection();
        beast::get_lowest_layer(conn->stream).expires_at(expiry);
        auto ec = co_await open_connection(c, *conn, rep.detail);
        bool was_cancelled = cancelled(co_await asio::this_coro::cancellation_state);
        if (ec || was_cancelled || c.shut_down) {
            c.destroy(conn);
            c.release(nullptr);
            bump(c.counters.connect_failures);
            rep.certificate_failure = ec == errc::tls_verification_failed || is_certificate_failure(ec);
            rep.ec = was_cancelled ? error_code(asio::error::operation_aborted)
                     : c.shut_down ? error_code(errc::client_shut_down)
                     : rep.certificate_failure ? error_code(errc::tls_verification_failed)
                                               : transport_error(ec, deadline_bound);
            co_return;
        }
        bump(c.counters.connections_opened);
        bump(c.counters.open);
    } else {
        rep.reused = true;
        bump(c.counters.reuses);
    }

    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    tcp_layer.expires_at(expiry);
    bump(c.counters.attempts);
    write_request(c, spec, call, conn->out);
    auto [wec, written] = co_await asio::async_write(conn->stream, asio::buffer(conn->out), use_tuple);
    (void)written;
    // The response's header map lives in this frame's arena: no heap allocation per field.
    alignas(std::max_align_t) unsigned char header_space[2048];
    arena header_arena(header_space, sizeof header_space);
    http::response_parser<http::string_body, arena_allocator<char>> parser(
        std::piecewise_construct, std::make_tuple(), std::make_tuple(arena_allocator<char>(header_arena)));
    parser.header_limit(max_response_header_bytes);
    parser.body_limit(c.cfg.max_response_bytes);
    boost::system::error_code ec = wec;
    if (!ec && !cancelled(co_await asio::this_coro::cancellation_state)) {
        auto [rec, read] = co_await http::async_read(conn->stream, conn->buffer, parser, use_tuple);
        (void)read;
        ec = rec;
    }
    bool was_cancelled = cancelled(co_await asio::this_coro::cancellation_state);
    if (ec || was_cancelled || c.shut_down) {
        rep.stale = rep.reused && !parser.got_some() && !was_cancelled && !c.shut_down && ec != beast::error::timeout;
        bool not_http = ec.category() == make_error_code(http::error::bad_version).category() &&
                        ec != http::error::partial_message && ec != http::error::end_of_stream &&
                        ec != http::error::body_limit && ec != http::error::header_limit;
        if (was_cancelled) {
            rep.ec = asio::error::operation_aborted;
        } else if (c.shut_down) {
            rep.ec = errc::client_shut_down;
        } else if (not_http) {
            rep.ec = errc::malformed_response;
        } else {
            rep.ec = transport_error(ec, deadline_bound);
        }
        rep.unusable = rep.ec == errc::malformed_response || rep.ec == errc::response_too_large;
        rep.detail = ec ? "reading the response: " + ec.message() : rep.ec.message();
        c.discard(conn);
        co_return;
    }
    auto& res = parser.get();
    call.status = res.result_int();
    if (auto it = res.find("Request-Id"); it != res.end()) call.request_id.assign(it->value());
    if (auto it = res.find("Stripe-Should-Retry"); it != res.end()) {
        if (beast::iequals(it->value(), "true")) call.should_retry = true;
        else if (beast::iequals(it->value(), "false")) call.should_retry = false;
    }
    if (auto it = res.find("Idempotent-Replayed"); it != res.end()) call.replayed = beast::iequals(it->value(), "true");
    bool reusable = res.keep_alive() && conn->buffer.size() == 0;
    call.body = std::move(res.body());
    if (reusable) {
        tcp_layer.expires_never();
        c.release(conn);
    } else {
        c.discard(conn);
    }
}

/// After a failed attempt: records it, and says whether to go again (and how long to wait
/// first) or stop with an error. A plain function, so its locals stay off the call's frame.
struct next_step {
    error_code stop_with;              ///< set: the call ends with this error
    std::chrono::milliseconds wait{0}; ///< before the next attempt
    bool fresh = false;                ///< the next attempt must not reuse a connection
};

inline next_step after_failure(client_impl& c, call_context& call, attempt_report& rep, retry_state& retries) {
    attempt_outcome outcome;
    outcome.got_response = !rep.ec;
    outcome.status = call.status;
    outcome.should_retry = call.should_retry;
    outcome.certificate_failure = rep.certificate_failure;
    outcome.caller_cancelled = rep.ec == asio::error::operation_aborted || rep.ec == errc::client_shut_down ||
                               rep.ec == errc::deadline_exceeded;
    outcome.response_unusable = rep.unusable;

    diagnostics& diag = call.failure();
    diagnostics fields;
    if (!rep.ec) {
        parse_stripe_error(call.body, fields);
        outcome.lock_timeout = fields.code == "lock_timeout";
    }
    attempt_record record;
    record.ec = rep.ec ? rep.ec : error_code(errc_from_status(call.status, fields.type));
    record.http_status = call.status;
    record.request_id = call.request_id.str();
    record.reused_connection = rep.reused;
    record.stale_connection = rep.stale;

    next_step step;
    bool again = false;
    if (rep.stale && retries.take_stale_resend()) {
        again = true;
        step.fresh = true;
        call.stale_resent = true;
        bump(c.counters.stale_resends);
    } else if (retries.take_retry(outcome)) {
        again = true;
        step.wait = retries.next_delay(c.jitter.next());
        bump(c.counters.retries);
    }
    if (again && clock_type::now() + step.wait >= call.deadline) again = false; // would wake past it
    record.wait_before_next = again ? step.wait : std::chrono::milliseconds{0};
    if (!again) {
        step.stop_with = record.ec;
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
    return step;
}

/// Checks the caller's options and fixes the call's key, deadline and retry budget.
inline error_code prepare_call(client_impl& c, call_spec& spec, call_context& call, std::string& why) {
    auto bad = [&why](errc e, const char* reason) {
        why = reason;
        return error_code(e);
    };
    const request_options& opts = spec.options;
    if (spec.refusal) return bad(spec.refused, spec.refusal);
    if (!opts.idempotency_key.empty() && !is_valid_idempotency_key(opts.idempotency_key))
        return bad(errc::invalid_idempotency_key, "idempotency key must be 1 to 255 visible ASCII characters");
    if (!opts.stripe_account.empty() && !is_valid_account_id(opts.stripe_account))
        return bad(errc::invalid_request_options, "stripe_account must be acct_ followed by letters and digits");
    for (const auto& e : opts.expand)
        if (e.empty() || e.size() > 5000)
            return bad(errc::invalid_request_options, "expand entries must be 1 to 5000 characters");
    if (opts.attempt_timeout && opts.attempt_timeout->count() <= 0)
        return bad(errc::invalid_request_options, "attempt_timeout must be positive");
    if (opts.call_timeout && opts.call_timeout->count() < 0)
        return bad(errc::invalid_request_options, "call_timeout must not be negative");
    if (c.shut_down) return bad(errc::client_shut_down, "the client was shut down before the call started");

    if (spec.wants_key) {
        if (!opts.idempotency_key.empty()) {
            call.idempotency_key = opts.idempotency_key;
        } else {
            std::array<std::uint8_t, 16> bytes{};
            if (!c.random_bytes(bytes.data(), bytes.size()))
                return bad(errc::invalid_config, "the system's random source failed");
            call.generated_key = format_uuid_v4(bytes);
            call.idempotency_key = std::string_view(call.generated_key.data(), call.generated_key.size());
        }
    }
    call.attempt_timeout = opts.attempt_timeout.value_or(c.cfg.attempt_timeout);
    auto total = opts.call_timeout.value_or(c.cfg.call_timeout);
    if (total.count() > 0) call.deadline = clock_type::now() + total;
    call.max_retries = opts.max_retries.value_or(c.cfg.retry.max_retries);
    return {};
}

template <class Result>
using result_parser = error_code (*)(std::string_view body, Result& out, std::string& why);

template <class Result>
using result_handler = asio::any_completion_handler<void(error_code, diagnostics, Result)>;

/// Builds the result (or the diagnostics) and hands them to the caller's handler, on its own
/// executor. Dispatched, as co_spawn does: run_call has suspended at least once by now, so this
/// is never inside the initiating function.
template <class Result>
void complete_call(client_impl& c, call_context& call, error_code ec, std::string why, result_parser<Result> parse,
                   result_handler<Result>& handler) {
    Result result;
    diagnostics diag;
    if (!ec) {
        ec = parse(std::string_view(call.body), result, why);
        if (ec) {
            result = Result{}; // never a half-filled result
            diag.http_status = call.status;
            diag.request_id = call.request_id.str();
        } else {
            response_metadata& meta = result.meta;
            meta.request_id = call.request_id;
            meta.idempotency_key.assign(call.idempotency_key);
            meta.http_status = call.status;
            meta.attempts = call.attempts;
            meta.idempotent_replayed = call.replayed;
            meta.stale_connection_retried = call.stale_resent;
        }
    }
    if (ec) {
        if (call.diag) diag = std::move(*call.diag);
        if (!why.empty()) diag.detail = std::move(why);
        diag.attempts = call.attempts;
        diag.idempotency_key = std::string(call.idempotency_key);
        redact(diag.message, c.cfg.api_key);
        redact(diag.detail, c.cfg.api_key);
    }
    bump(c.counters.in_flight, -1);
    bump(ec ? c.counters.calls_failed : c.counters.calls_succeeded);
    auto ex = asio::get_associated_executor(handler, c.user_ex);
    asio::dispatch(ex, [h = std::move(handler), ec, diag = std::move(diag), result = std::move(result)]() mutable {
        // Our forwarding handler leaves the caller's slot before the caller gets it back.
        auto slot = asio::get_associated_cancellation_slot(h);
        if (slot.is_connected()) slot.clear();
        std::move(h)(ec, std::move(diag), std::move(result));
    });
}

/// One call, from checks to completion. Everything here sits in the coroutine frame while the
/// call waits, so it holds only what it must; see call_context and exchange().
template <class Result>
awaitable<void> run_call(std::shared_ptr<client_impl> self, call_spec spec, result_parser<Result> parse,
                         result_handler<Result> handler) {
    // Terminal and partial cancellation both end the call; inner I/O is cancelled terminally.
    // Cancellation is observed explicitly after every wait (so that slots, waiters and
    // connections are always given back), never thrown out of a co_await.
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await asio::this_coro::reset_cancellation_state(
        asio::enable_partial_cancellation(), [](asio::cancellation_type t) {
            return t == asio::cancellation_type::none ? t : asio::cancellation_type::terminal;
        });
    client_impl& c = *self;
    bool suspended = false; // completing before the first real wait must not run the handler inline
    // Keeps the handler's executor from running out of work while the call is in flight.
    auto work = asio::prefer(asio::get_associated_executor(handler, c.user_ex),
                             asio::execution::outstanding_work.tracked);
    // The timer takes the plain executor: its waits complete through the coroutine, which is on
    // the strand anyway, and a type-erased strand costs a heap copy per call.
    call_context call(c.user_ex);
    std::string why;
    bump(c.counters.calls_started);
    bump(c.counters.in_flight);
    error_code ec = prepare_call(c, spec, call, why);
    if (!ec) {
        c.link(call);
        retry_state retries(c.cfg.retry, call.max_retries);
        bool fresh = false;
        for (;;) {
            attempt_report rep;
            call.status = 0;
            call.body.clear();
            call.request_id = {};
            call.should_retry.reset();
            call.replayed = false;

            // The client-side rate limit: every attempt is a request Stripe counts.
            if (c.limiter.enabled()) {
                auto wait = c.limiter.reserve(clock_type::now(), call.deadline);
                if (!wait) {
                    ec = errc::deadline_exceeded;
                    why = "the rate limit leaves no room before the deadline";
                    break;
                }
                if (wait->count() > 0) {
                    bump(c.counters.rate_limited);
                    call.timer.expires_after(*wait);
                    co_await call.timer.async_wait(use_tuple);
                    suspended = true;
                    bool stop = cancelled(co_await asio::this_coro::cancellation_state);
                    if (stop || c.shut_down) {
                        ec = interruption(c, stop);
                        break;
                    }
                }
            }

            // A connection: idle, a free slot to open one in, or a place in the queue.
            if (c.shut_down) {
                ec = errc::client_shut_down;
                break;
            }
            c.evict_expired_idle();
            auto got = c.pool.acquire(fresh);
            connection* conn = got.connection;
            switch (got.kind) {
            case pool_type::acquire_kind::reuse: bump(c.counters.idle, -1); break;
            case pool_type::acquire_kind::open: break;
            case pool_type::acquire_kind::replace:
                bump(c.counters.idle, -1);
                c.close_connection(conn);
                conn = nullptr;
                break;
            case pool_type::acquire_kind::overflow: ec = errc::too_many_pending; break;
            case pool_type::acquire_kind::wait: {
                call_waiter w;
                w.timer = &call.timer;
                c.pool.enqueue(w);
                bump(c.counters.waiters);
                call.timer.expires_at(call.deadline);
                co_await call.timer.async_wait(use_tuple);
                suspended = true;
                bool stop = cancelled(co_await asio::this_coro::cancellation_state);
                if (w.granted && !stop && !c.shut_down) {
                    conn = w.connection;
                    if (fresh && conn) {
                        c.close_connection(conn);
                        conn = nullptr;
                    }
                } else {
                    if (w.granted) c.release(w.connection); // pass it on to the next waiter
                    else {
                        c.pool.remove(w);
                        bump(c.counters.waiters, -1);
                    }
                    ec = interruption(c, stop);
                }
                break;
            }
            }
            if (ec) break;

            // A connection that sat idle may have been closed by the server; where the socket
            // already shows it, replace it before sending rather than after failing.
            if (conn && clock_type::now() - conn->idle_since >= liveness_check_after && conn->peer_has_closed()) {
                bump(c.counters.stale_detected);
                c.close_connection(conn);
                conn = nullptr;
            }
            // A waiter may be handed a connection just as its deadline passes: give it back
            // unused rather than send a request that can only time out.
            if (clock_type::now() >= call.deadline) {
                if (conn) c.release(conn);
                else c.release(nullptr);
                ec = errc::deadline_exceeded;
                break;
            }
            ++call.attempts;
            co_await exchange(c, spec, call, conn, rep);
            suspended = true;
            fresh = false;
            if (!rep.ec && call.status >= 200 && call.status < 300) break;

            next_step step = after_failure(c, call, rep, retries);
            if (step.stop_with) {
                ec = step.stop_with;
                break;
            }
            fresh = step.fresh;
            if (step.wait.count() > 0) {
                call.timer.expires_after(step.wait);
                co_await call.timer.async_wait(use_tuple);
                bool stop = cancelled(co_await asio::this_coro::cancellation_state);
                if (stop || c.shut_down) {
                    ec = interruption(c, stop);
                    break;
                }
            }
        }
        c.unlink(call);
    }
    // Ended without ever waiting (bad input, queue full, ...): yield once, so the handler never
    // runs inside the initiating function, even when co_spawn started this coroutine inline.
    if (!suspended) co_await asio::post(c.ex, asio::use_awaitable);
    complete_call<Result>(c, call, ec, std::move(why), parse, handler);
}

/// Starts a call on the client's executor. The caller's cancellation slot is not given to
/// co_spawn: a request from it is carried to the client's executor and emitted there on a
/// signal of the call's own, so the call's cancellation state is only touched on that executor
/// and outlives anything the caller does with its slot.
template <class Result>
void spawn_call(std::shared_ptr<client_impl> impl, call_spec spec, result_parser<Result> parse,
                result_handler<Result> handler) {
    auto ex = impl->ex;
    auto plain = impl->user_ex;
    auto on_exit = [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e); // the engine throws nothing but bad_alloc
    };
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (!slot.is_connected()) {
        asio::co_spawn(ex, run_call<Result>(std::move(impl), std::move(spec), parse, std::move(handler)),
                       asio::bind_executor(plain, on_exit));
        return;
    }
    auto signal = std::make_shared<asio::cancellation_signal>();
    slot.assign([signal, ex](asio::cancellation_type type) {
        asio::dispatch(ex, [signal, type] { signal->emit(type); });
    });
    asio::co_spawn(ex, run_call<Result>(std::move(impl), std::move(spec), parse, std::move(handler)),
                   asio::bind_cancellation_slot(signal->slot(),
                                                asio::bind_executor(plain, [signal, on_exit](std::exception_ptr e) {
                                                    on_exit(e);
                                                })));
}

STRIPE_ASIO_DECL std::shared_ptr<client_impl> make_client_impl(asio::any_io_executor ex, config cfg) {
    cfg.validate();
    std::string why;
    auto parts = parse_base_url(cfg.base_url, why);
    return std::make_shared<client_impl>(std::move(ex), std::move(cfg), std::move(*parts));
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
    return s;
}

STRIPE_ASIO_DECL asio::any_io_executor user_executor(const client_impl& impl) noexcept { return impl.user_ex; }

STRIPE_ASIO_DECL void start_login_link(std::shared_ptr<client_impl> impl, const account_id_arg& account,
                                       request_options options, login_link_handler handler) {
    call_spec spec;
    if (is_valid_account_id(account.view())) {
        spec.target.reserve(impl->url.prefix.size() + 32 + account.size());
        spec.target = impl->url.prefix;
        spec.target += "/v1/accounts/";
        percent_encode(spec.target, account.view());
        spec.target += "/login_links";
        append_expand(spec.body, options.expand);
    } else {
        spec.refused = errc::invalid_account_id;
        spec.refusal = "account id must be acct_ followed by letters and digits, at most 255 characters";
    }
    spec.options = std::move(options);
    spawn_call<login_link>(std::move(impl), std::move(spec), &parse_login_link, std::move(handler));
}

STRIPE_ASIO_DECL void start_request(std::shared_ptr<client_impl> impl, http_method method, std::string path,
                                    form_params params, request_options options, json_handler handler) {
    call_spec spec;
    bool valid = path.size() > 4 && path.compare(0, 4, "/v1/") == 0;
    for (char ch : path)
        if (!(is_unreserved(ch) || ch == '/')) valid = false;
    // No empty, "." or ".." segments: the path must name exactly what it says.
    for (std::string_view bad : {"//", "/./", "/../"})
        if ((path + "/").find(bad) != std::string::npos) valid = false;
    if (!valid) {
        spec.refused = errc::invalid_request_options;
        spec.refusal = "path must start with /v1/ and hold only letters, digits and / - . _ ~";
    }
    std::string form = encode_form(params);
    append_expand(form, options.expand);
    spec.target = impl->url.prefix + path;
    switch (method) {
    case http_method::post:
        spec.method = "POST";
        spec.body = std::move(form);
        break;
    case http_method::get:
    case http_method::delete_:
        spec.method = method == http_method::get ? "GET" : "DELETE";
        spec.has_body = false;
        spec.wants_key = false;
        if (!form.empty()) spec.target += "?" + form;
        break;
    }
    spec.options = std::move(options);
    spawn_call<json_response>(std::move(impl), std::move(spec), &parse_json_object, std::move(handler));
}

} // namespace stripe_asio::detail

#endif
