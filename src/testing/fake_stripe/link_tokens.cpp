// Login link tokens (see link_tokens.hpp).
#include "link_tokens.hpp"

#include "certificates.hpp"

#include <openssl/rand.h>

namespace stripe_asio::testing::detail {

link_tokens::link_tokens() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key_), sizeof key_) != 1) throw_openssl("RAND_bytes");
}

std::uint64_t link_tokens::mac(std::string_view account, std::string_view nonce) const {
    std::uint64_t h = key_[0];
    auto absorb = [&h](std::string_view s) {
        for (unsigned char ch : s) {
            h ^= ch;
            h *= 0x100000001b3ULL;
        }
        h ^= 0xff;
        h *= 0x100000001b3ULL;
    };
    absorb(account);
    absorb(nonce);
    h ^= key_[1];
    // splitmix64 finaliser
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

std::string link_tokens::make(std::string_view account) {
    std::string token(24, '0');
    random_.fill(token.data(), 12);
    std::uint64_t m = mac(account, std::string_view(token).substr(0, 12));
    for (std::size_t i = 12; i < 24; ++i) {
        token[i] = alphanumerics[m % 62];
        m /= 62;
    }
    return token;
}

bool link_tokens::valid(std::string_view account, std::string_view token) const {
    if (token.size() != 24 || !all_alnum(token)) return false;
    std::uint64_t m = mac(account, token.substr(0, 12));
    for (std::size_t i = 12; i < 24; ++i) {
        if (token[i] != alphanumerics[m % 62]) return false;
        m /= 62;
    }
    return true;
}

} // namespace stripe_asio::testing::detail
