// The fake Stripe server's idempotency store: for each Idempotency-Key, the request it was first
// used with and the 200 answered, and the intact copies of that answer delivered so far.
//
// Stripe forgets idempotency keys after a day; this store forgets the oldest once it holds
// `capacity`, so a benchmark sending a fresh key per call keeps a flat memory profile. Shared by
// the server thread and the test thread: every member function locks.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_IDEMPOTENCY_STORE_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_IDEMPOTENCY_STORE_HPP

#include <stripe_asio/testing/fake_stripe.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace stripe_asio::testing::detail {

class idempotency_store {
public:
    explicit idempotency_store(std::size_t capacity) : capacity_(capacity) {}

    enum class match {
        unknown_key, ///< never seen, or forgotten
        same_request, ///< the stored answer was copied out
        other_request, ///< the key was first used with another request
    };
    /// What the store holds for `key` against a request of this `fingerprint`.
    match find(std::string_view key, std::string_view fingerprint, std::string& stored_body) const;

    /// Stores the answer for a key not yet stored (a stored one is kept as it is).
    void remember(std::string_view key, std::string fingerprint, const std::string& body);

    /// Adds (or, negative, takes back) intact answers delivered for `key`.
    void count_delivered(std::string_view key, long in_step, long behind_stray);

    /// The "url" of the login link stored for `key`.
    std::optional<std::string> link_for_key(std::string_view key) const;
    key_deliveries deliveries_for_key(std::string_view key) const;
    std::size_t keys_with_delivered_link() const;
    std::uint64_t intact_answers_delivered() const { return intact_delivered_.load(); }
    /// Drops `key`; returns its deliveries.
    key_deliveries forget_key(std::string_view key);
    std::size_t size() const;

private:
    struct stored_answer {
        std::string fingerprint;
        std::string body;
        std::list<const std::string*>::iterator age; // its place in order_
        key_deliveries delivered; // intact answers sent for it
    };

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    const std::size_t capacity_;
    mutable std::mutex mutex_; // guards the members below, up to the atomic
    std::unordered_map<std::string, stored_answer, string_hash, std::equal_to<>> answers_;
    std::list<const std::string*> order_; // oldest first; points at the map's keys
    std::size_t keys_delivered_ = 0; // remembered keys with a delivery
    std::atomic<std::uint64_t> intact_delivered_{0};
};

} // namespace stripe_asio::testing::detail

#endif
