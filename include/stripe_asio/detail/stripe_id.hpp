// What a Stripe object id looks like in a path, as the engine tells ids from resource names.
#ifndef STRIPE_ASIO_DETAIL_STRIPE_ID_HPP
#define STRIPE_ASIO_DETAIL_STRIPE_ID_HPP

#include <algorithm>
#include <string_view>

namespace stripe_asio::detail {

/// A Stripe id: a lowercase prefix, '_', then a suffix of letters, digits and '_' with a digit
/// or a capital in it, or long (acct_1032D82eZvKYlo2C, cs_test_a1B2c3, sub_sched_1Mr3);
/// "login_links" and "payment_intents" are names, not ids.
inline bool is_stripe_id(std::string_view text) noexcept {
    const std::size_t underscore = text.find('_');
    if (underscore == std::string_view::npos || underscore == 0 || underscore + 1 >= text.size()) return false;
    const std::string_view prefix = text.substr(0, underscore), suffix = text.substr(underscore + 1);
    const bool prefix_ok = std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    const bool suffix_alnum = std::all_of(suffix.begin(), suffix.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    const bool suffix_marked =
        std::any_of(suffix.begin(), suffix.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
    return prefix_ok && suffix_alnum && (suffix_marked || suffix.size() >= 14);
}

} // namespace stripe_asio::detail

#endif
