// Server-side sessions of the platform example: the browser holds only an opaque random id; who
// the user is and which connected account is theirs live here, so a request can never choose the
// account. Single-threaded (the server runs one io_context on one thread), bounded in size.
#ifndef PLATFORM_SERVER_SESSION_STORE_HPP
#define PLATFORM_SERVER_SESSION_STORE_HPP

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace platform {

/// 128 bits from OpenSSL's CSPRNG, as 32 hex digits: unguessable session ids and CSRF tokens.
inline std::string random_token() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

/// Comparison whose time does not depend on where the strings differ.
inline bool equal_secret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct session {
    std::string user; ///< display name
    std::string account; ///< the user's connected account (acct_...), from our user table only
    std::string csrf; ///< must come back in every state-changing form
    std::chrono::steady_clock::time_point expires;
};

class session_store {
public:
    using clock = std::chrono::steady_clock;

    explicit session_store(std::size_t capacity, std::chrono::seconds lifetime = std::chrono::hours(8))
        : capacity_(capacity), lifetime_(lifetime) {}

    /// A new session with a fresh id (never reuses one the browser sent: no session fixation).
    std::string create(std::string user, std::string account) {
        if (sessions_.size() >= capacity_) make_room();
        std::string id = random_token();
        sessions_[id] = session{std::move(user), std::move(account), random_token(), clock::now() + lifetime_};
        return id;
    }

    /// The live session with this id, or nullptr. Expired ones are dropped on sight.
    const session* find(const std::string& id) {
        auto it = sessions_.find(id);
        if (it == sessions_.end()) return nullptr;
        if (it->second.expires <= clock::now()) {
            sessions_.erase(it);
            return nullptr;
        }
        return &it->second;
    }

    void erase(const std::string& id) { sessions_.erase(id); }
    std::size_t size() const { return sessions_.size(); }

private:
    // Only when full: drop the expired sessions, and if none were, the one closest to expiry
    // (the oldest). A linear scan, rare and bounded by the capacity.
    void make_room() {
        const auto now = clock::now();
        std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expires <= now; });
        if (sessions_.size() < capacity_ || sessions_.empty()) return;
        auto oldest = sessions_.begin();
        for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
            if (it->second.expires < oldest->second.expires) oldest = it;
        sessions_.erase(oldest);
    }

    std::size_t capacity_;
    std::chrono::seconds lifetime_;
    std::unordered_map<std::string, session> sessions_;
};

} // namespace platform

#endif
