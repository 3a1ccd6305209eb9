// Stripe's error bodies, as the fake Stripe server writes them.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_STRIPE_ERRORS_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_STRIPE_ERRORS_HPP

#include <string>
#include <string_view>

namespace stripe_asio::testing::detail {

/// {"error":{"type":...,"code":...,"message":...,"param":...}}, empty members left out.
std::string error_json(std::string_view type, std::string_view code, std::string_view message,
                       std::string_view param = {});

/// The error a scripted status with no body answers with.
std::string generic_error(unsigned status);

} // namespace stripe_asio::testing::detail

#endif
