// Stripe's error bodies (see stripe_errors.hpp).
#include "stripe_errors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace stripe_asio::testing::detail {

std::string error_json(std::string_view type, std::string_view code, std::string_view message, std::string_view param) {
    namespace json = boost::json;
    json::object error;
    error["type"] = json::string(type);
    if (!code.empty()) error["code"] = json::string(code);
    error["message"] = json::string(message);
    if (!param.empty()) error["param"] = json::string(param);
    json::object root;
    root["error"] = std::move(error);
    return json::serialize(root);
}

std::string generic_error(unsigned status) {
    if (status == 429)
        return error_json("invalid_request_error", "rate_limit",
                          "Too many requests hit the API too quickly. We recommend an exponential "
                          "backoff of your requests.");
    if (status >= 500) return error_json("api_error", {}, "An unknown error occurred (scripted by fake_stripe).");
    if (status == 402) return error_json("card_error", {}, "Scripted 402 from fake_stripe.");
    if (status == 409) return error_json("idempotency_error", {}, "Scripted 409 from fake_stripe.");
    return error_json("invalid_request_error", {}, "Scripted " + std::to_string(status) + " from fake_stripe.");
}

} // namespace stripe_asio::testing::detail
