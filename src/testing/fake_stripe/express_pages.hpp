// The Express dashboard pages the fake Stripe server's login links lead to:
// GET /express/{account}/{token} is the dashboard on the link's first visit, and an "expired"
// page (410) after it or for a link the server never issued.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_EXPRESS_PAGES_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_EXPRESS_PAGES_HPP

#include "link_tokens.hpp"

#include <string>
#include <string_view>

namespace stripe_asio::testing::detail {

inline constexpr std::string_view express_path_prefix = "/express/";
inline constexpr std::string_view express_content_type = "text/html; charset=utf-8";

/// The page for `path` (which starts with express_path_prefix) into `page`; returns its status.
/// `scratch` is working space.
unsigned express_page(std::string_view path, link_tokens& tokens, std::string& page, std::string& scratch);

} // namespace stripe_asio::testing::detail

#endif
