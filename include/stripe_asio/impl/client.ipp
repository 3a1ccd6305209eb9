// The client's engine: the steps of a call. Each call is one call_state (see call_op.hpp),
// carried from step to step by the completions of its waits and I/O on the client's executor (a
// strand when config::thread_safe). What to do next is the call machine's to say
// (detail/call_machine.hpp); this file carries its actions out. The rooms around it, in
// impl/internal/: client_state (what all calls share), byte_stream and tls_stream (a
// connection's bytes), upkeep (min_idle), request_rules (what a call sends), call_steps (how a
// call goes from step to step), attempt_timer (the attempt timeout) and engine_clock.
#ifndef STRIPE_ASIO_IMPL_CLIENT_IPP
#define STRIPE_ASIO_IMPL_CLIENT_IPP

#include <stripe_asio/client.hpp>
#include <stripe_asio/impl/internal/client_state.hpp>
#include <stripe_asio/impl/internal/transport_errors.hpp>
#include <stripe_asio/impl/internal/upkeep.hpp>
#include <stripe_asio/impl/internal/request_rules.hpp>
#include <stripe_asio/impl/internal/call_steps.hpp>
#include <stripe_asio/impl/internal/attempt_timer.hpp>
#include <stripe_asio/impl/internal/tls_stream.hpp>
#include <stripe_asio/impl/config.ipp>
#include <stripe_asio/impl/diagnostics.ipp>
#include <stripe_asio/impl/error.ipp>
#include <stripe_asio/impl/response_parsing.ipp>

namespace stripe_asio::detail {

// The engine. A call is a chain of steps, each started by the completion of the wait or I/O
// before it; every step runs on the client's executor. No step blocks, and none but the first
// runs inside the initiating function.

inline void carry_out(call_state& call, call_action next);
inline void reserve_budget(call_state& call);
inline void budget_decided(call_state& call, rate_budgets::decision room, clock_type::time_point now);
inline void take_connection(call_state& call);
inline void pace_then_take_connection(call_state& call);
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
STRIPE_ASIO_DECL void abandon_call(call_state& call) noexcept;

} // namespace stripe_asio::detail

#ifdef STRIPE_ASIO_WITH_REDIS
#include <stripe_asio/impl/internal/shared_budget.hpp>
#endif

namespace stripe_asio::detail {

#ifndef STRIPE_ASIO_WITH_REDIS
inline void client_impl::close_shared_budget() {}
#endif

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
    case call_action::take_connection: pace_then_take_connection(call); return;
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

/// The call's endpoint budget, found on the strand at its first attempt: a login link's is fixed
/// when the client is made; any other path is named (ids replaced) and looked up.
inline std::size_t endpoint_budget_of(client_impl& c, call_state& call) {
    if (call.endpoint == call_state::unresolved_endpoint) {
        std::string_view path = call.target.view().substr(c.url.prefix.size());
        std::string name = endpoint_name(method_name(call.method), path);
        call.endpoint = static_cast<std::uint16_t>(c.budgets.endpoint(name));
        if (c.fallback_share) c.fallback_share->endpoint(name); // the same index there
    }
    return call.endpoint;
}

inline void stop_counting_budget_wait(call_state& call) noexcept {
    if (!call.counted_budget_wait) return;
    call.counted_budget_wait = false;
    bump(call.client->counters.budget_waiters, -1);
}

/// The latest send time a call takes room for: its deadline, sooner by rate_budget.max_wait,
/// and now when max_pending calls already wait for the budget.
inline clock_type::time_point budget_limit(client_impl& c, call_state& call, clock_type::time_point now) {
    if (c.counters.budget_waiters.load(std::memory_order_relaxed) >= c.cfg.max_pending) return now;
    auto limit = call.machine.deadline();
    if (auto patience = c.cfg.rate_budget.max_wait; patience.count() > 0 && now + patience < limit)
        limit = now + patience;
    return limit;
}

/// Takes room from the budgets kept in this process: the client's own, or its share of a shared
/// one (charged to the full budget as it goes: pace_then_take_connection).
inline void reserve_locally(call_state& call) {
    client_impl& c = *call.client;
    auto now = clock_type::now();
    std::size_t endpoint = endpoint_budget_of(c, call);
    rate_budgets& budgets = c.fallback_share ? *c.fallback_share : c.budgets;
    budget_decided(call, budgets.reserve(endpoint, now, budget_limit(c, call, now)), now);
}

/// Starts an attempt: through the rate budgets (every attempt is a request Stripe counts), then
/// to a connection. Room after the deadline, or a wait when max_pending calls already wait,
/// ends the call at once: nothing is taken from the budgets and nothing is sent. With a shared
/// budget, the room is Redis's to give, or the local share's while Redis can't.
inline void reserve_budget(call_state& call) {
    client_impl& c = *call.client;
    call.status = 0;
    call.should_retry.reset();
    call.replayed = false;
    call.paced = false;
    if (!c.budgets.enabled()) {
        carry_out(call, call.machine.budget_reserved(clock_type::duration::zero(), {}));
        return;
    }
    if (!c.fallback_share) return reserve_locally(call);
#ifdef STRIPE_ASIO_WITH_REDIS
    auto now = clock_type::now();
    if (c.shared && ask_shared_budget(call, endpoint_budget_of(c, call), now, budget_limit(c, call, now))) return;
#endif
    bump(c.counters.shared_fallbacks);
    reserve_locally(call);
}

/// The budgets' answer: room after `room.wait`, or (refused) none before the call's limit. The
/// call machine has the last word: room past the deadline is none either.
inline void budget_decided(call_state& call, rate_budgets::decision room, clock_type::time_point now) {
    client_impl& c = *call.client;
    call_action next = call.machine.budget_reserved(room.granted ? std::optional(room.wait) : std::nullopt, now);
    if (next == call_action::complete && call.machine.error() == errc::rate_budget_exhausted) {
        bump(c.counters.budget_refusals);
        auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(room.wait).count();
        call.failure().rate_budget_wait = decltype(diagnostics::rate_budget_wait)(static_cast<std::uint32_t>(
            std::clamp<std::int64_t>(wait_ms, 0, std::numeric_limits<std::uint32_t>::max())));
    } else if (next == call_action::wait) {
        bump(c.counters.rate_limited);
        bump(c.counters.budget_waiters);
        call.counted_budget_wait = true;
    }
    carry_out(call, next);
}

/// With a shared budget, every request is charged to the client's full budget as it is about to
/// go, whoever gave its room (Redis or the local share), and waits when that budget has none
/// yet: one process never sends faster than its full budget allows, whatever Redis answers and
/// however calls alternate between Redis and the share. Charged when the request goes rather
/// than when its room was given: Redis's answers come back out of order across connections,
/// and a budget of one time point paces only requests taken in the order they go. Room a few
/// milliseconds off is taken as now: an honest Redis's requests arrive with that much jitter,
/// and should not each wait twice; the budget's time point still moves a full interval, so the
/// rate over any longer span is kept.
inline void pace_then_take_connection(call_state& call) {
    constexpr std::chrono::milliseconds jitter{2};
    client_impl& c = *call.client;
    if (!c.fallback_share || call.paced) return take_connection(call);
    call.paced = true;
    auto now = clock_type::now();
    rate_budgets::decision room = c.budgets.reserve(call.endpoint, now, call.machine.deadline());
    if (room.granted && room.wait <= jitter) return take_connection(call);
    budget_decided(call, room, now); // take_connection after the wait, or no room before the deadline
}

/// The wait for the rate budget or for backoff ended (or was cut short).
inline void on_woken(call_state& call, const boost::system::error_code&, std::size_t) {
    call_action next = call.machine.woken(clock_type::now());
    if (next != call_action::wait) stop_counting_budget_wait(call); // woken for nothing: still waiting
    carry_out(call, next);
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
                if (e) { // opening throws nothing but bad_alloc; nothing is opening now
                    opened_for.suspended = true;
                    opened_for.client->give_back(std::exchange(opened_for.conn, nullptr),
                                                 client_impl::given_back::never_opened);
                    std::rethrow_exception(e);
                }
                connection_opened(opened_for, ec);
            });
        }
    };
    asio::co_spawn(c.ex, call.conn->stream->open(c, call.machine.report().detail),
                   asio::bind_cancellation_slot(call.conn->opening_signal.slot(),
                                                asio::bind_executor(c.ex, on_opened{call_ref(call)})));
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
    conn.stream->async_write(asio::buffer(conn.out), call_step{call_ref(call), &on_written});
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
    conn.stream->async_read_some(into, call_step{call_ref(call), &on_read});
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
        // A body delimited by the close (HTTP/1.0), or a cut answer. Only a TLS close_notify
        // (eof) ends such a body: a bare TCP close may be an attacker's cut (RFC 9112 section 9.8).
        progress = conn.reader.feed(conn.buffer, parse_ec);
        if (!parse_ec && progress == read_progress::need_more) {
            if (ec == ssl::error::stream_truncated && conn.reader.got_some()) {
                exchange_failed(call, errc::connection_error, true,
                                "the connection closed without TLS close_notify before the answer's end: the "
                                "answer may be cut");
                return;
            }
            progress = conn.reader.end_of_stream(parse_ec);
        }
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

/// Why a complete answer is not this call's, or null when it is (see answer_binding.hpp).
inline const char* refusal_of(client_impl& c, const call_state& call, const response_reader& res) {
    answer_marks marks;
    marks.sent_key = call.idempotency_key.view();
    marks.echoed_key = res.field("Idempotency-Key");
    marks.request_id = res.field("Request-Id");
    marks.first_on_connection = !call.machine.report().reused;
    if (const char* why = c.binding.judge(marks)) return why;
    if (!call.wants_key && res.status() / 100 == 2) {
        std::string_view asked = asked_object_id(call.target.view());
        if (!asked.empty() && names_another_object(res.body(), asked))
            return "the answer is about another object than the one asked for: the connection was out of step";
    }
    return nullptr;
}

/// A complete answer is in the connection's reader.
inline void response_read(call_state& call) {
    client_impl& c = *call.client;
    connection& conn = *call.conn;
    const response_reader& res = conn.reader;
    if (const char* why = refusal_of(c, call, res)) {
        bump(c.counters.answers_refused);
        call.machine.answer_refused(why);
        close_failed_exchange(call);
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
        const call_summary summary{conn.request_id, call.idempotency_key.view(), call.status, call.machine.attempts(),
                                   call.replayed,   call.machine.stale_resent()};
        call.typed->deliver(body,
                            summary); // the typed half parses, finishes (giving the connection back) and completes
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

/// A 429: counted by its Stripe-Rate-Limited-Reason, and the budget it names backs off. The
/// answer is still held on the connection.
inline rate_limit_reason note_rate_limited(call_state& call) {
    client_impl& c = *call.client;
    bump(c.counters.limited_answers);
    if (!call.conn) return rate_limit_reason::none;
    rate_limit_reason why = parse_rate_limit_reason(call.conn->reader.field("Stripe-Rate-Limited-Reason"));
    switch (why) {
    case rate_limit_reason::global_rate: bump(c.counters.limited_global_rate); break;
    case rate_limit_reason::endpoint_rate: bump(c.counters.limited_endpoint_rate); break;
    case rate_limit_reason::global_concurrency: bump(c.counters.limited_global_concurrency); break;
    case rate_limit_reason::endpoint_concurrency: bump(c.counters.limited_endpoint_concurrency); break;
    case rate_limit_reason::resource_specific: bump(c.counters.limited_resource_specific); break;
    case rate_limit_reason::other:
    case rate_limit_reason::none: break;
    }
    if (call.endpoint != call_state::unresolved_endpoint) {
        c.budgets.rate_limited(why, call.endpoint, clock_type::now());
        if (c.fallback_share) c.fallback_share->rate_limited(why, call.endpoint, clock_type::now());
    }
    return why;
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
    rate_limit_reason limited_reason = rate_limit_reason::none;
    if (call.status == 429) limited_reason = note_rate_limited(call);

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
        diag.rate_limited_reason = limited_reason;
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
    stop_counting_budget_wait(call);
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
STRIPE_ASIO_DECL void abandon_call(call_state& call) noexcept {
    client_impl& c = *call.client;
    unlink_from(c.attempts, call);
    c.pool.remove(call);
    if (call.listed()) {
        unlink_from(c.calls, call);
        bump(c.counters.in_flight, -1);
    }
    if (call.relay) call.relay->call = nullptr;
    stop_counting_budget_wait(call);
    call.finished = true;
    call.machine.finish();
    call.typed->drop();
}

/// Frees a call that never began (out of memory before its first step). A relay the caller's
/// slot still holds is told first, so a later cancellation finds no call rather than a freed one.
inline void drop_unlaunched(call_state& call) noexcept {
    if (call.relay) call.relay->call = nullptr;
    call.typed->drop();
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
    call.typed->fail(ec, std::move(diag));
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
        if (std::exchange(launching, nullptr) == &call) drop_unlaunched(call);
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
#ifdef STRIPE_ASIO_WITH_REDIS
    if (impl->fallback_share) {
        impl->shared = std::make_shared<shared_budget>(impl);
        try {
            impl->shared->start();
        } catch (...) { // out of memory: no channel may outlive the client unclosed
            impl->shared->close();
            throw;
        }
    }
#endif
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
    s.rate_budget_exhausted = get(k.budget_refusals);
    s.budget_waiters = get(k.budget_waiters);
    s.rate_limited_answers = get(k.limited_answers);
    s.rate_limited_global_rate = get(k.limited_global_rate);
    s.rate_limited_endpoint_rate = get(k.limited_endpoint_rate);
    s.rate_limited_global_concurrency = get(k.limited_global_concurrency);
    s.rate_limited_endpoint_concurrency = get(k.limited_endpoint_concurrency);
    s.rate_limited_resource_specific = get(k.limited_resource_specific);
    s.shared_budget_reservations = get(k.shared_reserved);
    s.shared_budget_fallbacks = get(k.shared_fallbacks);
    s.shared_budget_failures = get(k.shared_failures);
    s.shared_budget_connections = get(k.redis_connections);
    s.retries_throttled = get(k.retries_throttled);
    s.answers_refused = get(k.answers_refused);
    return s;
}

STRIPE_ASIO_DECL asio::any_io_executor user_executor(const client_impl& impl) noexcept { return impl.user_ex; }

STRIPE_ASIO_DECL std::size_t call_state_size() noexcept {
    static_assert(alignof(call_state) <= alignof(std::max_align_t)); // the block's alignment
    // A waiting call is mostly this: with the typed half it fits the block cache's 768-byte
    // class (x86-64, libstdc++). Growing it costs every pending call 128 bytes.
    static_assert(sizeof(void*) != 8 || sizeof(std::string) != 32 || sizeof(call_state) <= 680,
                  "call_state grew past its block class: see docs/architecture.md, Rooms");
    return sizeof(call_state);
}

STRIPE_ASIO_DECL call_state& make_call_state(void* at, std::shared_ptr<client_impl> client, call_completion& typed) {
    const asio::any_io_executor timers = client->user_ex;
    return *::new (at) call_state(std::move(client), timers, typed);
}

STRIPE_ASIO_DECL void destroy_call_state(call_state& call) noexcept { call.~call_state(); }

STRIPE_ASIO_DECL bool call_has_waited(const call_state& call) noexcept { return call.suspended; }

STRIPE_ASIO_DECL bool call_has_relay(const call_state& call) noexcept { return call.relay != nullptr; }

STRIPE_ASIO_DECL void set_io_faults(client_impl& c, io_faults* plan) noexcept { c.faults = plan; }

STRIPE_ASIO_DECL void set_stream_source(client_impl& c, stream_source* source) noexcept { c.streams = source; }

/// Runs `fill` (what the call will send), then launches the call. Running out of memory before
/// the launch frees the call, and the caller gets the exception, as launch() does.
template <class Fill>
void fill_and_launch(call_state& call, Fill&& fill) {
    try {
        fill();
    } catch (const std::bad_alloc&) {
        drop_unlaunched(call);
        throw;
    }
    launch(call);
}

STRIPE_ASIO_DECL void start_login_link(call_state& call, const account_id_arg& account,
                                       const request_options* options) {
    fill_and_launch(call, [&] { fill_login_link(call, account, options); });
}

STRIPE_ASIO_DECL void start_request(call_state& call, http_method method, std::string path, form_params params,
                                    const request_options* options) {
    fill_and_launch(call, [&] { fill_request(call, method, path, params, options); });
}

} // namespace stripe_asio::detail

#endif
