// The tests' way to a client's engine (client names this a friend).
#ifndef STRIPE_ASIO_DETAIL_CLIENT_ACCESS_HPP
#define STRIPE_ASIO_DETAIL_CLIENT_ACCESS_HPP

namespace stripe_asio::detail {

class client_impl;

struct client_access {
    template <class Client>
    static client_impl* impl(Client& c) noexcept {
        return c.impl_.get();
    }
};

} // namespace stripe_asio::detail

#endif
