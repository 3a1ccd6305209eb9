// The tokens at the end of the fake Stripe server's login link URLs.
//
// A token carries its own proof: 12 random characters, then 12 encoding a keyed hash of the
// account and those characters. Issuing a link stores nothing (flat memory in benchmarks); only
// visited tokens are remembered, to make them single-use. One thread at a time.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_LINK_TOKENS_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_LINK_TOKENS_HPP

#include "text.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

namespace stripe_asio::testing::detail {

class link_tokens {
public:
    link_tokens(); ///< a fresh key from OpenSSL's CSPRNG

    std::string make(std::string_view account);
    bool valid(std::string_view account, std::string_view token) const;
    /// True the first time it is called for `token`.
    bool first_visit(std::string_view token) { return visited_.emplace(token).second; }

private:
    std::uint64_t mac(std::string_view account, std::string_view nonce) const;

    std::uint64_t key_[2] = {0, 0};
    alnum_source random_;
    std::unordered_set<std::string> visited_;
};

} // namespace stripe_asio::testing::detail

#endif
