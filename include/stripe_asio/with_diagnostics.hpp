// A completion token adapter: turns the library's `void(error_code, diagnostics, T)` completion
// into `void(std::exception_ptr, T)`, the exception being an error_with_diagnostics. It is the
// default token (`with_diagnostics(deferred)`), so `co_await client.create_login_link(id)` returns
// the result or throws with everything known about the failure.
#ifndef STRIPE_ASIO_WITH_DIAGNOSTICS_HPP
#define STRIPE_ASIO_WITH_DIAGNOSTICS_HPP

#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error_with_diagnostics.hpp>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/version.hpp>

#include <exception>
#include <type_traits>
#include <utility>

namespace stripe_asio {

template <class CompletionToken>
struct with_diagnostics_t {
    CompletionToken token;
};

/// Wraps any completion token; the default token of every operation is with_diagnostics(deferred).
template <class CompletionToken>
constexpr with_diagnostics_t<std::decay_t<CompletionToken>> with_diagnostics(CompletionToken&& token) {
    return {std::forward<CompletionToken>(token)};
}

using default_completion_token = with_diagnostics_t<boost::asio::deferred_t>;

namespace detail {

template <class Handler>
struct throwing_handler {
    Handler handler;

    template <class T>
    void operator()(error_code ec, diagnostics diag, T value) {
        if (ec) {
            std::move(handler)(std::make_exception_ptr(error_with_diagnostics(ec, std::move(diag))), T{});
        } else {
            std::move(handler)(std::exception_ptr(), std::move(value));
        }
    }
};

template <class Initiation>
struct throwing_initiation {
    Initiation initiation;

    template <class Handler, class... Args>
    void operator()(Handler&& handler, Args&&... args) && {
        std::move(initiation)(throwing_handler<std::decay_t<Handler>>{std::forward<Handler>(handler)},
                              std::forward<Args>(args)...);
    }
};

} // namespace detail
} // namespace stripe_asio

// The adapted handler keeps the executor, allocator and cancellation slot of the one it wraps.
template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, stripe_asio::detail::throwing_handler<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const stripe_asio::detail::throwing_handler<Handler>& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const stripe_asio::detail::throwing_handler<Handler>& h, const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};

template <class CompletionToken, class T>
struct boost::asio::async_result<stripe_asio::with_diagnostics_t<CompletionToken>,
                                 void(stripe_asio::error_code, stripe_asio::diagnostics, T)> {
    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& initiation, RawToken&& token, Args&&... args) {
        CompletionToken& inner = token.token; // async_initiate wants a non-const lvalue
        return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, T)>(
            stripe_asio::detail::throwing_initiation<std::decay_t<Initiation>>{std::forward<Initiation>(initiation)},
            inner, std::forward<Args>(args)...);
    }
};

// Boost 1.81's awaitable_async_op_handler for `void(std::exception_ptr, T)` tests the wrong member
// (`*result` instead of `*result.ex_`) and does not compile, which breaks `co_await` on a
// deferred operation of that signature: exactly what the default token makes. These
// specialisations, for our result types only, are the corrected copy. Boost 1.82 fixed it
// ("awaitable<> handling for completion signatures containing std::exception_ptr").
#if BOOST_VERSION < 108200
#include <boost/asio/awaitable.hpp>

#define STRIPE_ASIO_FIX_AWAITABLE_OP_HANDLER(T)                                                                        \
    template <typename R, typename Executor>                                                                           \
    class boost::asio::detail::awaitable_async_op_handler<R(std::exception_ptr, T), Executor>                          \
        : public boost::asio::detail::awaitable_thread<Executor> {                                                     \
    public:                                                                                                            \
        struct result_type {                                                                                           \
            std::exception_ptr* ex_;                                                                                   \
            T* value_;                                                                                                 \
        };                                                                                                             \
        awaitable_async_op_handler(boost::asio::detail::awaitable_thread<Executor>* h, result_type& result)            \
            : boost::asio::detail::awaitable_thread<Executor>(std::move(*h)), result_(result) {}                       \
        void operator()(std::exception_ptr ex, T value) {                                                              \
            result_.ex_ = &ex;                                                                                         \
            result_.value_ = &value;                                                                                   \
            this->entry_point()->top_of_stack_->attach_thread(this);                                                   \
            this->entry_point()->top_of_stack_->clear_cancellation_slot();                                             \
            this->pump();                                                                                              \
        }                                                                                                              \
        static T resume(result_type& result) {                                                                         \
            if (*result.ex_) std::rethrow_exception(std::exchange(*result.ex_, nullptr));                              \
            return std::move(*result.value_);                                                                          \
        }                                                                                                              \
                                                                                                                       \
    private:                                                                                                           \
        result_type& result_;                                                                                          \
    }

#endif

#endif
