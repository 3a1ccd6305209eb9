// The handler of one Redis command: any callable taking (error_code, resp_value), moved and
// never copied, held inline when it is small and nothrow-movable (the shared budget's is one
// pointer), so queueing a command costs no allocation for its handler; a larger one is boxed on
// the heap. std::function would allocate for any capture that is not trivially copyable.
#ifndef STRIPE_ASIO_DETAIL_REDIS_REPLY_HANDLER_HPP
#define STRIPE_ASIO_DETAIL_REDIS_REPLY_HANDLER_HPP

#include <stripe_asio/detail/resp.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace stripe_asio::detail {

class redis_reply_handler {
public:
    redis_reply_handler() noexcept = default;

    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, redis_reply_handler>>>
    redis_reply_handler(F&& f) { // NOLINT: implicit, as a callable is passed to send()
        using fn = std::decay_t<F>;
        if constexpr (sizeof(fn) <= sizeof(storage_) && alignof(fn) <= alignof(std::max_align_t) &&
                      std::is_nothrow_move_constructible_v<fn>) {
            ::new (static_cast<void*>(&storage_)) fn(std::forward<F>(f));
            ops_ = &ops_for<fn>;
        } else {
            auto boxed = [p = std::make_unique<fn>(std::forward<F>(f))](
                             boost::system::error_code ec, resp_value v) mutable { (*p)(ec, std::move(v)); };
            ::new (static_cast<void*>(&storage_)) decltype(boxed)(std::move(boxed));
            ops_ = &ops_for<decltype(boxed)>;
        }
    }

    redis_reply_handler(redis_reply_handler&& other) noexcept : ops_(std::exchange(other.ops_, nullptr)) {
        if (ops_) ops_->move(&other.storage_, &storage_);
    }
    redis_reply_handler& operator=(redis_reply_handler&& other) noexcept {
        if (this != &other) {
            reset();
            ops_ = std::exchange(other.ops_, nullptr);
            if (ops_) ops_->move(&other.storage_, &storage_);
        }
        return *this;
    }
    redis_reply_handler(const redis_reply_handler&) = delete;
    redis_reply_handler& operator=(const redis_reply_handler&) = delete;
    ~redis_reply_handler() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    /// Calls it once; it is empty afterwards.
    void operator()(boost::system::error_code ec, resp_value v) {
        const ops* o = std::exchange(ops_, nullptr);
        o->call(&storage_, ec, std::move(v)); // destroys it, even when it throws
    }

private:
    struct ops {
        void (*call)(void*, boost::system::error_code, resp_value&&);
        void (*move)(void* from, void* to) noexcept;
        void (*destroy)(void*) noexcept;
    };

    template <class F>
    static constexpr ops ops_for{
        [](void* p, boost::system::error_code ec, resp_value&& v) {
            F f(std::move(*static_cast<F*>(p)));
            static_cast<F*>(p)->~F();
            f(ec, std::move(v));
        },
        [](void* from, void* to) noexcept {
            ::new (to) F(std::move(*static_cast<F*>(from)));
            static_cast<F*>(from)->~F();
        },
        [](void* p) noexcept { static_cast<F*>(p)->~F(); },
    };

    void reset() noexcept {
        if (auto* o = std::exchange(ops_, nullptr)) o->destroy(&storage_);
    }

    alignas(std::max_align_t) unsigned char storage_[32];
    const ops* ops_ = nullptr;
};

} // namespace stripe_asio::detail

#endif
