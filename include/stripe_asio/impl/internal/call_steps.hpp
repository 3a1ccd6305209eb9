// How a call goes from step to step: the handler of its every wait and I/O (call_step) on the
// client's executor, the guard that mends a call when memory runs out inside a step, a test's
// faults at the I/O points, and the interruption of what a call waits for.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_CALL_STEPS_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_CALL_STEPS_HPP

#include <stripe_asio/impl/internal/client_state.hpp>

namespace stripe_asio::detail {

/// Defined with the steps (client.ipp); compiled into the library, so a test over the seam can use call_step.
STRIPE_ASIO_DECL void abandon_call(call_state& call) noexcept;

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
        call.typed->fail(errc::out_of_memory, diagnostics{});
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

/// Interrupts what the call is waiting for, as its machine says.
inline void interrupt_io(call_state& call, interrupt what) noexcept {
    switch (what) {
    case interrupt::none: return;
    case interrupt::timer: call.timer.cancel(); return;
    case interrupt::opening:
        if (call.conn) call.conn->opening_signal.emit(asio::cancellation_type::terminal);
        return;
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

} // namespace stripe_asio::detail

#endif
