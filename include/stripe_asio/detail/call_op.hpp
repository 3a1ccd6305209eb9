// The typed half of a call: the caller's handler, the work it keeps alive, and how the result
// is made and handed over. The engine (impl/client.ipp) knows calls only as call_state.
//
// The call is allocated with the handler's associated allocator, or from the block cache when
// the handler has none, and freed before the handler runs, as Asio's own operations do.
#ifndef STRIPE_ASIO_DETAIL_CALL_OP_HPP
#define STRIPE_ASIO_DETAIL_CALL_OP_HPP

#include <stripe_asio/detail/block_cache.hpp>
#include <stripe_asio/detail/call_state.hpp>
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
class call_op final : public call_state {
    using allocator_type = typename std::allocator_traits<call_allocator_base<Handler>>::template rebind_alloc<call_op>;
    using handler_executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

public:
    /// Makes the call for `handler`. The caller's cancellation slot is connected here, in the
    /// caller's context, as Asio requires.
    static call_state& create(Handler handler, std::shared_ptr<client_impl> client, result_parser<Result> parse) {
        allocator_type alloc(make_allocator(handler));
        call_op* op = std::allocator_traits<allocator_type>::allocate(alloc, 1);
        try {
            ::new (static_cast<void*>(op)) call_op(std::move(handler), std::move(client), parse);
        } catch (...) {
            std::allocator_traits<allocator_type>::deallocate(alloc, op, 1);
            throw;
        }
        auto slot = boost::asio::get_associated_cancellation_slot(op->handler_);
        if constexpr (std::is_same_v<decltype(slot), boost::asio::cancellation_slot>) {
            if (slot.is_connected()) connect_cancellation(*op, slot);
        }
        return *op;
    }

    void deliver(std::string_view body, const fixed_string<64>& request_id) override {
        Result result;
        std::string why;
        if (error_code ec = parse_(body, result, why)) {
            fail_call(*this, ec, std::move(why));
            return;
        }
        response_metadata& meta = result.meta;
        meta.request_id = request_id;
        meta.idempotency_key.assign(idempotency_key.view());
        meta.http_status = status;
        meta.attempts = machine.attempts();
        meta.idempotent_replayed = replayed;
        meta.stale_connection_retried = machine.stale_resent();
        finish_call(*this, true);
        complete(error_code{}, diagnostics{}, std::move(result));
    }

    void fail(error_code ec, diagnostics diag) override { complete(ec, std::move(diag), Result{}); }

    void drop() noexcept override {
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        if (!relay && slot.is_connected()) slot.clear(); // it points at this call
        Handler handler(std::move(handler_));
        auto work = std::move(work_);
        allocator_type alloc(make_allocator(handler));
        this->~call_op();
        std::allocator_traits<allocator_type>::deallocate(alloc, this, 1);
    }

private:
    call_op(Handler handler, std::shared_ptr<client_impl> c, result_parser<Result> parse)
        : call_state(c, user_executor(*c)), work_(boost::asio::get_associated_executor(handler, user_executor(*c))),
          handler_(std::move(handler)), parse_(parse) {}

    static call_allocator_base<Handler> make_allocator(const Handler& handler) {
        if constexpr (std::is_same_v<call_allocator_base<Handler>, cached_allocator<void>>) {
            return {};
        } else {
            return boost::asio::get_associated_allocator(handler);
        }
    }

    /// Frees the call, then hands the result to the handler on its executor: at once when the
    /// call has waited for something, posted when it never did (so the handler never runs inside
    /// the initiating function).
    void complete(error_code ec, diagnostics diag, Result result) {
        bool posted = !suspended;
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        // Without a relay the slot points at this call: leave it now, before the call is freed.
        // With one (thread-safe clients) the slot is the caller's to touch, on its executor.
        bool clear_later = relay != nullptr;
        if (!clear_later && slot.is_connected()) slot.clear();
        Handler handler(std::move(handler_));
        auto work = std::move(work_);
        allocator_type alloc(make_allocator(handler));
        this->~call_op();
        std::allocator_traits<allocator_type>::deallocate(alloc, this, 1);

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
