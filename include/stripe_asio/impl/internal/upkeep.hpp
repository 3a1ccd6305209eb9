// min_idle > 0 only: connections opened ahead of demand, and the periodic upkeep that keeps them.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_UPKEEP_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_UPKEEP_HPP

#include <stripe_asio/impl/internal/client_state.hpp>
#include <stripe_asio/impl/internal/transport_errors.hpp>

namespace stripe_asio::detail {

// min_idle: connections opened ahead of demand, and a periodic upkeep that closes the idle ones
// which expired or which the server closed, then opens new ones up to min_idle again.

/// Opens one spare connection in a slot already taken for it; it goes idle (or to a waiter).
inline awaitable<void> open_spare(std::shared_ptr<client_impl> self, connection& conn) {
    using namespace asio::experimental::awaitable_operators;
    client_impl& c = *self;
    std::string detail;
    engine_timer limit(c.user_ex, c.cfg.attempt_timeout);
    auto first = co_await (conn.stream->open(c, detail) || limit.async_wait(use_tuple));
    boost::system::error_code ec = first.index() == 0 ? std::get<0>(first) : asio::error::timed_out;
    if (ec || c.shut_down) {
        c.give_back(&conn, client_impl::given_back::never_opened);
        bump(c.counters.connect_failures);
        co_return; // the next upkeep tries again
    }
    bump(c.counters.connections_opened);
    bump(c.counters.open);
    c.give_back(&conn, client_impl::given_back::reusable);
}

inline void keep_warm(const std::shared_ptr<client_impl>& self) {
    client_impl& c = *self;
    // `connections` counts those being opened too, by calls and by earlier upkeeps.
    while (!c.shut_down && c.connections.size() < c.cfg.min_idle && c.pool.take_spare_slot())
        asio::co_spawn(c.ex, open_spare(self, c.add_connection()), asio::detached);
}

inline void on_upkeep(const std::shared_ptr<client_impl>& self, const boost::system::error_code& ec);

struct upkeep_step {
    std::shared_ptr<client_impl> client;

    using allocator_type = cached_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    using executor_type = step_executor;
    executor_type get_executor() const noexcept { return step_executor(*client); }
    void operator()(const boost::system::error_code& ec) const { on_upkeep(client, ec); }
};

inline void schedule_upkeep(const std::shared_ptr<client_impl>& self) {
    using std::chrono::milliseconds;
    auto half = self->cfg.idle_timeout / 2;
    auto period = self->cfg.idle_timeout.count() > 0
                      ? std::clamp<milliseconds>(half, milliseconds(50), milliseconds(1000))
                      : milliseconds(1000);
    self->upkeep.expires_after(period);
    self->upkeep.async_wait(upkeep_step{self});
}

inline void on_upkeep(const std::shared_ptr<client_impl>& self, const boost::system::error_code& ec) {
    if (ec || self->shut_down) return;
    self->evict_expired_idle();
    self->evict_closed_idle();
    keep_warm(self);
    schedule_upkeep(self);
}

} // namespace stripe_asio::detail

#endif
