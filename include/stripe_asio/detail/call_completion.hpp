// Where the typed half of a call (call_op) meets the engine. The engine's state of a call
// (call_state) is its own, defined in impl/internal/ and compiled into the library: a caller's
// translation unit knows only its size, asked at run time, and the functions below. The typed
// half puts that state at the front of its own allocation, so a call still costs one.
#ifndef STRIPE_ASIO_DETAIL_CALL_COMPLETION_HPP
#define STRIPE_ASIO_DETAIL_CALL_COMPLETION_HPP

#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/fixed_string.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

class client_impl;
class call_state;

/// What a successful call reports with its answer.
struct call_summary {
    const fixed_string<64>& request_id;
    std::string_view idempotency_key;
    unsigned http_status;
    unsigned attempts;
    bool replayed;
    bool stale_resent;
};

/// The typed half as the engine sees it.
class call_completion {
public:
    /// Parse a 2xx body into the result and complete the call. Called with the connection still
    /// held, so the body and its Request-Id stay valid.
    virtual void deliver(std::string_view body, const call_summary& summary) = 0;
    /// Complete the call with an error (the call has already been finished).
    virtual void fail(error_code ec, diagnostics diag) = 0;
    /// Free the call without completing it (its execution context is gone).
    virtual void drop() noexcept = 0;

protected:
    ~call_completion() = default;
};

/// The bytes the engine's state of a call takes; it needs no more alignment than std::max_align_t.
STRIPE_ASIO_DECL std::size_t call_state_size() noexcept;
/// Makes the engine's state of a call at `at` (call_state_size() bytes), for `typed`.
STRIPE_ASIO_DECL call_state& make_call_state(void* at, std::shared_ptr<client_impl> client, call_completion& typed);
/// Destroys what make_call_state made; the memory stays the caller's.
STRIPE_ASIO_DECL void destroy_call_state(call_state& call) noexcept;
/// Whether the call has waited for anything (else its completion is posted, never run inline).
STRIPE_ASIO_DECL bool call_has_waited(const call_state& call) noexcept;
/// Whether the caller's cancellation slot points at a relay (thread-safe clients), which the
/// slot's owner clears, or at the call itself, which the call clears before it is freed.
STRIPE_ASIO_DECL bool call_has_relay(const call_state& call) noexcept;

/// Ends the call's bookkeeping: gives back its connection, leaves the list of live calls,
/// counts it. The typed half calls it just before completing.
STRIPE_ASIO_DECL void finish_call(call_state& call, bool succeeded) noexcept;
/// Finishes the call and completes it with `ec`, the diagnostics filled from what is known.
STRIPE_ASIO_DECL void fail_call(call_state& call, error_code ec, std::string why);
/// Carries the caller's cancellation requests to the call.
STRIPE_ASIO_DECL void connect_cancellation(call_state& call, boost::asio::cancellation_slot slot);
STRIPE_ASIO_DECL boost::asio::any_io_executor user_executor(const client_impl& impl) noexcept;

} // namespace stripe_asio::detail

#endif
