// The attempt timeout: one timer for the client, set for the earliest expiry among the attempts
// in progress, rather than one per read and write.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_ATTEMPT_TIMER_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_ATTEMPT_TIMER_HPP

#include <stripe_asio/impl/internal/client_state.hpp>
#include <stripe_asio/impl/internal/call_steps.hpp>

namespace stripe_asio::detail {

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

} // namespace stripe_asio::detail

#endif
