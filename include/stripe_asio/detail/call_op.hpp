// The typed half of a call: the caller's handler, the work it keeps alive, and how the result
// is made and handed over. The engine knows it as a call_completion (call_completion.hpp).
//
// One allocation holds both halves, the engine's state of the call first (its size comes from
// the engine), then this one. It is made with the handler's associated allocator, or from the
// block cache when the handler has none, and freed before the handler runs, as Asio's own
// operations do.
#ifndef STRIPE_ASIO_DETAIL_CALL_OP_HPP
#define STRIPE_ASIO_DETAIL_CALL_OP_HPP

#include <stripe_asio/detail/block_cache.hpp>
#include <stripe_asio/detail/call_completion.hpp>
#include <stripe_asio/response_metadata.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace stripe_asio::detail {

template <class Result>
using result_parser = error_code (*)(std::string_view body, Result& out, std::string& why);

/// The allocator a call takes from its handler: the handler's own, or the block cache.
template <class Handler>
using call_allocator_base =
    std::conditional_t<std::is_same_v<boost::asio::associated_allocator_t<Handler>, std::allocator<void>>,
                       cached_allocator<void>, boost::asio::associated_allocator_t<Handler>>;

/// Keeps the handler's executor from running out of work until the call completes. A standard
/// executor is kept as one copy that tracks work (a work guard would keep two: for an
/// any_io_executor, 64 bytes more per call); others get Asio's work guard.
template <class Executor, bool = boost::asio::execution::is_executor<Executor>::value>
class handler_work {
public:
    explicit handler_work(const Executor& ex)
        : tracked_(boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked)) {}
    const auto& get_executor() const noexcept { return tracked_; }

private:
    std::decay_t<decltype(boost::asio::prefer(std::declval<const Executor&>(),
                                              boost::asio::execution::outstanding_work.tracked))>
        tracked_;
};

template <class Executor>
class handler_work<Executor, false> {
public:
    explicit handler_work(const Executor& ex) : guard_(ex) {}
    Executor get_executor() const noexcept { return guard_.get_executor(); }

private:
    boost::asio::executor_work_guard<Executor> guard_;
};

template <class Result, class Handler>
class call_op final : public call_completion {
    /// The allocation's unit: both halves are placed in an array of these.
    using unit = std::max_align_t;
    using allocator_type = typename std::allocator_traits<call_allocator_base<Handler>>::template rebind_alloc<unit>;
    using handler_executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

public:
    /// Makes the call for `handler`. The caller's cancellation slot is connected here, in the
    /// caller's context, as Asio requires.
    static call_state& create(Handler handler, std::shared_ptr<client_impl> client, result_parser<Result> parse) {
        static_assert(alignof(call_op) <= alignof(unit), "a handler aligned beyond std::max_align_t");
        allocator_type alloc(make_allocator(handler));
        const std::size_t units = block_units();
        unit* block = std::allocator_traits<allocator_type>::allocate(alloc, units);
        call_op* op = nullptr;
        call_state* state = nullptr;
        try {
            op = ::new (static_cast<void*>(reinterpret_cast<char*>(block) + state_bytes()))
                call_op(std::move(handler), *client, parse);
            state = &make_call_state(block, std::move(client), *op);
            auto slot = boost::asio::get_associated_cancellation_slot(op->handler_);
            if constexpr (std::is_same_v<decltype(slot), boost::asio::cancellation_slot>) {
                if (slot.is_connected()) connect_cancellation(*state, slot);
            }
        } catch (...) {
            if (state) destroy_call_state(*state);
            if (op) op->~call_op();
            std::allocator_traits<allocator_type>::deallocate(alloc, block, units);
            throw;
        }
        return *state;
    }

    void deliver(std::string_view body, const call_summary& summary) override {
        Result result;
        std::string why;
        if (error_code ec = parse_(body, result, why)) {
            fail_call(state(), ec, std::move(why));
            return;
        }
        response_metadata& meta = result.meta;
        meta.request_id = summary.request_id;
        meta.idempotency_key.assign(summary.idempotency_key);
        meta.http_status = summary.http_status;
        meta.attempts = summary.attempts;
        meta.idempotent_replayed = summary.replayed;
        meta.stale_connection_retried = summary.stale_resent;
        finish_call(state(), true);
        complete(error_code{}, diagnostics{}, std::move(result));
    }

    void fail(error_code ec, diagnostics diag) override { complete(ec, std::move(diag), Result{}); }

    void drop() noexcept override {
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        if (!call_has_relay(state()) && slot.is_connected()) slot.clear(); // it points at this call
        Handler handler(std::move(handler_));
        auto work = std::move(work_);
        free_both(allocator_type(make_allocator(handler)));
    }

private:
    call_op(Handler handler, const client_impl& c, result_parser<Result> parse)
        : work_(boost::asio::get_associated_executor(handler, user_executor(c))), handler_(std::move(handler)),
          parse_(parse) {}

    /// The engine's state of this call: at the front of the allocation, this half after it (not
    /// kept as a pointer: 8 bytes more would cost a larger block for every call).
    call_state& state() const noexcept {
        return *reinterpret_cast<call_state*>(reinterpret_cast<char*>(const_cast<call_op*>(this)) - state_bytes());
    }

    /// Where this half starts in the allocation: after the engine's state, aligned for it.
    static std::size_t state_bytes() noexcept {
        constexpr std::size_t align = alignof(call_op);
        return (call_state_size() + align - 1) / align * align;
    }
    static std::size_t block_units() noexcept {
        return (state_bytes() + sizeof(call_op) + sizeof(unit) - 1) / sizeof(unit);
    }

    static call_allocator_base<Handler> make_allocator(const Handler& handler) {
        if constexpr (std::is_same_v<call_allocator_base<Handler>, cached_allocator<void>>) {
            return {};
        } else {
            return boost::asio::get_associated_allocator(handler);
        }
    }

    /// Destroys both halves and frees their memory (the handler has been moved out).
    void free_both(allocator_type alloc) noexcept {
        call_state& engine_half = state();
        unit* block = reinterpret_cast<unit*>(&engine_half); // the state is at the front
        destroy_call_state(engine_half);
        this->~call_op();
        std::allocator_traits<allocator_type>::deallocate(alloc, block, block_units());
    }

    /// Frees the call, then hands the result to the handler on its executor: at once when the
    /// call has waited for something, posted when it never did (so the handler never runs inside
    /// the initiating function).
    void complete(error_code ec, diagnostics diag, Result result) {
        bool posted = !call_has_waited(state());
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        // Without a relay the slot points at this call: leave it now, before the call is freed.
        // With one (thread-safe clients) the slot is the caller's to touch, on its executor.
        bool clear_later = call_has_relay(state());
        if (!clear_later && slot.is_connected()) slot.clear();
        Handler handler(std::move(handler_));
        auto work = std::move(work_);
        free_both(allocator_type(make_allocator(handler)));

        auto upcall = [handler = std::move(handler), ec, diag = std::move(diag), result = std::move(result),
                       clear_later]() mutable {
            if (clear_later) {
                auto s = boost::asio::get_associated_cancellation_slot(handler);
                if (s.is_connected()) s.clear();
            }
            std::move(handler)(ec, std::move(diag), std::move(result));
        };
        if (posted) {
            boost::asio::post(work.get_executor(), std::move(upcall));
        } else {
            boost::asio::dispatch(work.get_executor(), std::move(upcall));
        }
    }

    handler_work<handler_executor> work_;
    Handler handler_;
    result_parser<Result> parse_;
};

} // namespace stripe_asio::detail

#endif
