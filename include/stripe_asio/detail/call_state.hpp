// One call in flight, as the engine sees it: what to send, where the call stands, what the last
// attempt gave. It is the call's only allocation, made from the caller's handler (see call_op):
// while a call waits for a connection this object is all it costs, so it stays small.
#ifndef STRIPE_ASIO_DETAIL_CALL_STATE_HPP
#define STRIPE_ASIO_DETAIL_CALL_STATE_HPP

#include <stripe_asio/detail/call_machine.hpp>
#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/detail/intrusive_list.hpp>
#include <stripe_asio/detail/pool_state.hpp>
#include <stripe_asio/detail/uuid.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/fixed_string.hpp>
#include <stripe_asio/detail/inline_string.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

class client_impl;
struct connection;
struct cancel_relay;
using clock_type = std::chrono::steady_clock;

struct live_call_tag; ///< the client's calls not yet finished, for shutdown
struct attempt_tag; ///< the client's attempts in progress, which the attempt timer watches

class call_state : public pool_state<connection>::waiter,
                   public list_hook<live_call_tag>,
                   public list_hook<attempt_tag> {
public:
    call_state(std::shared_ptr<client_impl> c, const boost::asio::any_io_executor& timer_executor)
        : client(std::move(c)), timer(timer_executor) {}
    call_state(const call_state&) = delete;
    call_state& operator=(const call_state&) = delete;

    /// In the client's list of live calls.
    bool listed() const noexcept { return list_hook<live_call_tag>::is_linked(); }
    /// In the client's list of attempts in progress.
    bool in_attempt() const noexcept { return list_hook<attempt_tag>::is_linked(); }

    /// The typed half (call_op): parse a 2xx body into the result and complete the call.
    /// Called with the connection still held, so the body and its Request-Id stay valid.
    virtual void deliver(std::string_view body, const fixed_string<64>& request_id) = 0;
    /// The typed half: complete the call with an error (the call has already been finished).
    virtual void fail(error_code ec, diagnostics diag) = 0;
    /// The typed half: free the call without completing it (its execution context is gone).
    virtual void drop() noexcept = 0;

    std::shared_ptr<client_impl> client;

    // What to send, fixed before the first attempt.
    const char* method = "POST";
    inline_string<72> target; ///< path and query, encoded
    std::string body; ///< form body (POST)
    inline_string<32> stripe_account; ///< the `Stripe-Account` header; empty: none
    bool has_body = true; ///< POST: Content-Type and Content-Length, even for an empty body
    bool wants_key = true;
    // (flags of their own kept together, so the call is not padded between them)
    bool suspended = false; ///< has waited at least once (else completion is posted)
    bool finished = false; ///< its bookkeeping is done (finish_call): only completing is left
    errc refused{}; ///< set when the input was already found bad
    const char* refusal = nullptr;

    // Where the call stands: its rules live in the machine, its waits and I/O here.
    call_machine machine;
    inline_string<uuid_text_length> idempotency_key; ///< the caller's, or a UUIDv4 made for the call
    boost::asio::steady_timer timer; ///< the rate limiter, the pool queue and backoff wait on it
    boost::asio::cancellation_signal io_signal; ///< cancels the opening of a connection
    std::shared_ptr<cancel_relay> relay; ///< thread-safe clients: the caller's slot reaches us here
    detail::connection* conn = nullptr; ///< held during an attempt

    // The last response.
    unsigned status = 0; ///< its Request-Id stays with the connection that carried it
    std::optional<bool> should_retry;
    bool replayed = false;
    bool conn_reusable = false; ///< its connection may serve another request

    std::unique_ptr<diagnostics> diag; ///< made on the first failed attempt
    diagnostics& failure() {
        if (!diag) diag = std::make_unique<diagnostics>();
        return *diag;
    }

    /// Set while a step runs (see guarded_step): cleared when the call is freed, so a failure
    /// inside the step can tell whether the call is still there to mend.
    bool* alive = nullptr;

protected:
    ~call_state() {
        if (alive) *alive = false;
    }
};

/// Ends the call's bookkeeping: gives back its connection, leaves the list of live calls,
/// counts it. The typed half calls it just before completing.
STRIPE_ASIO_DECL void finish_call(call_state& call, bool succeeded) noexcept;
/// Finishes the call and completes it with `ec`, the diagnostics filled from what is known.
STRIPE_ASIO_DECL void fail_call(call_state& call, error_code ec, std::string why);
/// Carries the caller's cancellation requests to the call.
STRIPE_ASIO_DECL void connect_cancellation(call_state& call, boost::asio::cancellation_slot slot);
/// Whether the client gives the caller's slot a relay (thread-safe clients) or the call itself.
STRIPE_ASIO_DECL bool client_is_thread_safe(const client_impl& c) noexcept;
STRIPE_ASIO_DECL boost::asio::any_io_executor user_executor(const client_impl& impl) noexcept;

} // namespace stripe_asio::detail

#endif
