#ifndef STRIPE_ASIO_LOGIN_LINK_HPP
#define STRIPE_ASIO_LOGIN_LINK_HPP

#include <stripe_asio/response_metadata.hpp>

#include <cstdint>
#include <string>

namespace stripe_asio {

/// A single-use link to a connected account's Express Dashboard. Redirect the signed-in user to
/// `url` at once; never store, log, e-mail or cache it.
struct login_link {
    std::string object; ///< always "login_link"
    std::int64_t created = 0; ///< Unix seconds
    std::string url;
    response_metadata meta;
};

} // namespace stripe_asio

#endif
