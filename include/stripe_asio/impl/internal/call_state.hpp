// One call in flight, as the engine sees it: what to send, where the call stands, what the last
// attempt gave. It lives at the front of the call's only allocation, made by the typed half from
// the caller's handler (see call_op.hpp and call_completion.hpp): while a call waits for a
// connection this is most of what it costs, so it stays small. Engine-only.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_CALL_STATE_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_CALL_STATE_HPP

#include <stripe_asio/detail/call_machine.hpp>
#include <stripe_asio/detail/block_cache.hpp>
#include <stripe_asio/detail/call_completion.hpp>
#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/detail/intrusive_list.hpp>
#include <stripe_asio/detail/pool_state.hpp>
#include <stripe_asio/detail/uuid.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/fixed_string.hpp>
#include <stripe_asio/detail/inline_string.hpp>
#include <stripe_asio/impl/internal/engine_clock.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

class client_impl;
struct connection;
struct cancel_relay;

/// A call's question to the shared rate budget (Redis), held by the call while it waits and by
/// the question's reply handler: the handler writes the answer only while `call` is set, and
/// the call clears it once it goes on, answered or not. Counted by hand, on the client's
/// executor only: a shared_ptr would cost every call 8 bytes more.
struct budget_ticket {
    // From the block cache: one is made for every attempt that asks Redis.
    static void* operator new(std::size_t size) { return block_cache::allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { block_cache::deallocate(p, size); }
    static void release(budget_ticket* t) noexcept {
        if (--t->holders == 0) delete t;
    }
    unsigned holders = 1;
    call_state* call = nullptr;
    std::size_t endpoint = 0;
    std::int64_t max_wait_us = 0; ///< the longest wait the question allows
    bool reloaded = false; ///< asked again after NOSCRIPT, with the script loaded first
    bool answered = false; ///< an answer the call can use came
    bool granted = false;
    std::chrono::microseconds wait{};
};

/// A request's method in one byte: a pointer to its name would cost every call 8 bytes.
enum class request_method : std::uint8_t { post, get, delete_ };

inline const char* method_name(request_method m) noexcept {
    switch (m) {
    case request_method::get: return "GET";
    case request_method::delete_: return "DELETE";
    case request_method::post: break;
    }
    return "POST";
}

struct live_call_tag; ///< the client's calls not yet finished, for shutdown
struct attempt_tag; ///< the client's attempts in progress, which the attempt timer watches

class call_state : public pool_state<connection>::waiter,
                   public list_hook<live_call_tag>,
                   public list_hook<attempt_tag> {
public:
    call_state(std::shared_ptr<client_impl> c, const boost::asio::any_io_executor& timer_executor,
               call_completion& typed_half)
        : typed(&typed_half), client(std::move(c)), timer(timer_executor) {}
    call_state(const call_state&) = delete;
    call_state& operator=(const call_state&) = delete;

    /// In the client's list of live calls.
    bool listed() const noexcept { return list_hook<live_call_tag>::is_linked(); }
    /// In the client's list of attempts in progress.
    bool in_attempt() const noexcept { return list_hook<attempt_tag>::is_linked(); }

    /// The typed half (call_op): it parses the answer, completes the call and frees both.
    call_completion* typed;
    std::shared_ptr<client_impl> client;

    // What to send, fixed before the first attempt.
    inline_string<72> target; ///< path and query, encoded
    std::string body; ///< form body (POST)
    inline_string<32> stripe_account; ///< the `Stripe-Account` header; empty: none
    const char* refusal = nullptr; ///< why the input was refused (with `refused`)

    // Where the call stands: its rules live in the machine, its waits and I/O here.
    call_machine machine;
    inline_string<uuid_text_length> idempotency_key; ///< the caller's, or a UUIDv4 made for the call
    engine_timer timer; ///< the rate limiter, the pool queue and backoff wait on it
    std::shared_ptr<cancel_relay> relay; ///< thread-safe clients: the caller's slot reaches us here
    detail::connection* conn = nullptr; ///< held during an attempt

    // The last response (packed: a waiting call is mostly this struct).
    std::uint16_t status = 0; ///< its Request-Id stays with the connection that carried it
    static constexpr std::uint16_t unresolved_endpoint = 0xFFFF;
    /// The index of the endpoint's rate budget; unresolved until the first step (on the strand).
    std::uint16_t endpoint = unresolved_endpoint;
    std::optional<bool> should_retry;
    bool replayed : 1 = false;
    bool conn_reusable : 1 = false; ///< its connection may serve another request
    bool counted_budget_wait : 1 = false; ///< counted in the client's budget_waiters now
    bool paced : 1 = false; ///< this attempt is charged to the full budget (pace_then_take_connection)
    // What to send, and how the call began (here, beside the packed fields, not padded apart).
    bool has_body = true; ///< POST: Content-Type and Content-Length, even for an empty body
    bool wants_key = true;
    request_method method = request_method::post;
    bool suspended = false; ///< has waited at least once (else completion is posted)
    bool finished = false; ///< its bookkeeping is done (finish_call): only completing is left
    errc refused{}; ///< set when the input was already found bad

    budget_ticket* ticket = nullptr; ///< held while the shared budget is asked
    std::unique_ptr<diagnostics> diag; ///< made on the first failed attempt
    diagnostics& failure() {
        if (!diag) diag = std::make_unique<diagnostics>();
        return *diag;
    }

    /// Set while a step runs (see guarded_step): cleared when the call is freed, so a failure
    /// inside the step can tell whether the call is still there to mend.
    bool* alive = nullptr;

    ~call_state() {
        if (alive) *alive = false;
        if (ticket) {
            ticket->call = nullptr;
            budget_ticket::release(ticket);
        }
    }
};

} // namespace stripe_asio::detail

#endif
