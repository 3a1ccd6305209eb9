// Out of memory inside a call: the Nth allocation on the client's thread fails, for N = 1, 2, ...
// until a call goes through untouched. Each time the call completes exactly once (or its
// initiation throws to the caller), and afterwards its slot is free: the next call on the same
// one-connection client succeeds. The fake server runs on its own thread and is not affected.
#include "integration/fixture.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <cstdlib>
#include <new>

namespace {
thread_local long allocations_until_failure = -1; ///< -1: never fail
thread_local bool failed_one = false;

/// Where a failure is injected: a place for a debugger's breakpoint.
[[gnu::noinline]] void failing_allocation() { asm volatile(""); }

void* counted_allocation(std::size_t n) {
    if (allocations_until_failure == 0) {
        failing_allocation();
        allocations_until_failure = -1; // one failure per run; what follows may allocate again
        failed_one = true;
        throw std::bad_alloc();
    }
    if (allocations_until_failure > 0) --allocations_until_failure;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t n) { return counted_allocation(n); }
void* operator new[](std::size_t n) { return counted_allocation(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace test;
using stripe_asio::errc;

namespace {

/// A handler's own allocator, straight from the heap: a call freed through it goes back to
/// operator delete (not to the block cache), so AddressSanitizer sees any later use of it.
template <class T>
struct heap_allocator {
    using value_type = T;
    heap_allocator() = default;
    template <class U>
    heap_allocator(const heap_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
    friend bool operator==(const heap_allocator&, const heap_allocator&) noexcept { return true; }
    friend bool operator!=(const heap_allocator&, const heap_allocator&) noexcept { return false; }
};

} // namespace

TEST_CASE("memory running out at any allocation of a call never leaves a slot taken or a call hanging") {
    // with_options: a caller's key longer than the call keeps inline (so taking it allocates),
    // an account header and a deadline.
    enum scenario { reused, fresh_connection, retried_500, refused_400, with_options };
    for (bool thread_safe : {false, true})
        for (scenario sc : {reused, fresh_connection, retried_500, refused_400, with_options}) {
            CAPTURE(thread_safe);
            CAPTURE(int(sc));
            fake_stripe server;
            asio::io_context ioc;
            auto cfg = config_for(server);
            cfg.max_connections = 1;
            cfg.thread_safe = thread_safe;
            cfg.retry.max_retries = 1;
            stripe_asio::client client(ioc, cfg);
            bool untouched = false;
            for (long n = 0; n < 2000 && !untouched; ++n) {
                CAPTURE(n);
                if (sc == fresh_connection) server.close_idle_connections();
                if (sc == retried_500) server.push(fault::stripe_error(500, "api_error"));
                if (sc == refused_400) server.push(fault::stripe_error(400, "invalid_request_error"));
                int completions = 0;
                stripe_asio::error_code result;
                bool initiation_threw = false;
                stripe_asio::request_options options;
                if (sc == with_options) {
                    options.idempotency_key = "oom-" + std::string(60, 'k') + "-" + std::to_string(n);
                    options.stripe_account = "acct_1032D82eZvKYlo2C";
                    options.call_timeout = std::chrono::seconds(30);
                }
                failed_one = false;
                allocations_until_failure = n;
                // with_options also binds a cancellation slot, emitted once the call is over: a
                // call freed before it began must leave nothing behind that the emit could reach.
                asio::cancellation_signal cancel;
                auto handler = [&](stripe_asio::error_code ec, stripe_asio::diagnostics, stripe_asio::login_link) {
                    ++completions;
                    result = ec;
                };
                try {
                    if (sc == with_options) {
                        client.create_login_link(
                            "acct_1032D82eZvKYlo2C", options,
                            asio::bind_cancellation_slot(cancel.slot(),
                                                         asio::bind_allocator(heap_allocator<void>{}, handler)));
                    } else {
                        client.create_login_link("acct_1032D82eZvKYlo2C", options, handler);
                    }
                } catch (const std::bad_alloc&) {
                    initiation_threw = true;
                }
                // A failure after the call completed goes on out of run(); run on until no work is left.
                for (int runs = 0; runs < 10; ++runs) {
                    try {
                        ioc.restart();
                        ioc.run();
                        break;
                    } catch (const std::bad_alloc&) {
                    }
                }
                allocations_until_failure = -1;
                untouched = !failed_one;
                cancel.emit(asio::cancellation_type::terminal);
                ioc.restart();
                ioc.run();
                if (initiation_threw) {
                    CHECK(completions == 0);
                } else {
                    REQUIRE(completions == 1);
                    bool refused = sc == refused_400 && result == errc::invalid_request;
                    CHECK((!result || refused || result == errc::out_of_memory || result == errc::connection_error));
                }
                auto stats = client.stats();
                CHECK(stats.calls_in_flight == 0);
                CHECK(stats.waiters == 0);
                // The one slot is free again (a fault the failed call did not reach answers first).
                auto [ec, diag, link] = make_link(ioc, client);
                if (ec && (sc == retried_500 || sc == refused_400)) std::tie(ec, diag, link) = make_link(ioc, client);
                REQUIRE_SUCCEEDED(ec, diag);
            }
            CHECK(untouched); // N ran past every allocation of a call
        }
}
