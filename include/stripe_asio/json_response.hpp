#ifndef STRIPE_ASIO_JSON_RESPONSE_HPP
#define STRIPE_ASIO_JSON_RESPONSE_HPP

#include <stripe_asio/response_metadata.hpp>

#include <boost/json/value.hpp>

namespace stripe_asio {

/// The answer of a generic `client::request`: Stripe's JSON object and the call's metadata.
struct json_response {
    boost::json::value body;
    response_metadata meta;
};

} // namespace stripe_asio

#endif
