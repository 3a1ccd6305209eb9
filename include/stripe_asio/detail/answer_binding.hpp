// Whether a complete answer read on a connection is the answer to the request written on it,
// sans-io. HTTP/1.1 matches answers to requests by their order alone, so an answer that arrives
// late (a middlebox's replay, a server's duplicate, an answer nobody asked for) is read as the
// next request's. A login link is a credential, so the client binds an answer to its request by
// what the answer carries, not only by the connection it came on:
// - Stripe echoes the request's `Idempotency-Key` on the answer to every request that sent one.
//   An answer with another key is another request's. Once the server has shown that it echoes
//   (key_echo_policy::learn), or when told it does (required), an answer to a keyed request that
//   lacks the key is not this request's either.
// - Stripe's `Request-Id` is unique per request: an answer repeating a recent answer's id is a
//   copy, unless it echoes this request's own key (then it is this request's own answer, replayed).
//   A server that repeats its ids (a mock) shows it on a new connection's first answer, which
//   can't be a copy; from then on ids tell nothing.
// - An answer to a request without a key must carry none.
// - An answer to a request without a key (GET, DELETE) that names an object must name the one the
//   request's path asked for.
// What HTTP/1.1 cannot rule out: an answer with neither key nor Request-Id, or a server that
// never echoes keys and sends a fresh Request-Id with an answer nobody asked for.
#ifndef STRIPE_ASIO_DETAIL_ANSWER_BINDING_HPP
#define STRIPE_ASIO_DETAIL_ANSWER_BINDING_HPP

#include <stripe_asio/detail/stripe_id.hpp>
#include <stripe_asio/key_echo_policy.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace stripe_asio::detail {

/// Digests of the Request-Ids of the last `capacity` answers a client accepted, to know a copy.
/// A collision only refuses an answer, which is then asked for again.
class recent_request_ids {
public:
    static constexpr std::size_t capacity = 256;

    bool contains(std::string_view id) const noexcept {
        const std::uint64_t d = digest(id);
        for (std::size_t i = 0; i < size_; ++i)
            if (ids_[i] == d) return true;
        return false;
    }
    void remember(std::string_view id) noexcept {
        ids_[next_] = digest(id);
        next_ = (next_ + 1) % capacity;
        if (size_ < capacity) ++size_;
    }

private:
    static std::uint64_t digest(std::string_view id) noexcept { return std::hash<std::string_view>{}(id); }

    std::array<std::uint64_t, capacity> ids_{};
    std::size_t next_ = 0;
    std::size_t size_ = 0;
};

/// The fields of an answer that bind it to its request.
struct answer_marks {
    std::string_view sent_key; ///< the request's Idempotency-Key; empty: it sent none
    std::string_view echoed_key; ///< the answer's Idempotency-Key field, or empty
    std::string_view request_id; ///< the answer's Request-Id field, or empty
    /// The request was the first on a connection opened for it: nothing was sent on it before,
    /// so nothing that arrives first can be a copy or an answer to another request.
    bool first_on_connection = false;
};

/// One client's judge of answers: what it learned of the server, and the answers it accepted.
class answer_binding {
public:
    explicit answer_binding(key_echo_policy policy = key_echo_policy::learn) noexcept : policy_(policy) {}

    /// Null when the answer is the request's (then it is remembered), else why it is not.
    const char* judge(const answer_marks& a) noexcept {
        // A key on the answer that is not the request's: another request's answer, whatever
        // the policy (a request without a key gets no key back).
        if (!a.echoed_key.empty() && a.echoed_key != a.sent_key)
            return "the answer's Idempotency-Key is another request's: the connection was out of step";
        const bool bound_by_key = !a.sent_key.empty() && !a.echoed_key.empty();
        if (bound_by_key && policy_ == key_echo_policy::learn) server_echoes_ = true;
        // Without the echo, from a server that echoes. The first answer on a new connection is
        // the request's all the same (learn): a server may leave the key off some answers of
        // its own (an error made before its idempotency layer), and it is asked again there.
        if (!a.sent_key.empty() && a.echoed_key.empty() && expects_echo() &&
            !(a.first_on_connection && policy_ == key_echo_policy::learn))
            return "the answer does not echo the request's Idempotency-Key, which this server echoes: "
                   "the connection was out of step";
        if (!a.request_id.empty()) {
            if (!bound_by_key && ids_unique_ && recent_.contains(a.request_id)) {
                if (!a.first_on_connection)
                    return "the answer repeats an earlier answer's Request-Id: a copy, not this request's answer";
                ids_unique_ = false; // a server that repeats its ids (a mock): the rule can't tell copies
            }
            recent_.remember(a.request_id);
        }
        return nullptr;
    }

    /// Whether an answer to a keyed request must carry the key.
    bool expects_echo() const noexcept {
        return policy_ == key_echo_policy::required || (policy_ == key_echo_policy::learn && server_echoes_);
    }
    /// Whether a repeated Request-Id still marks a copy (false once the server repeated one on a
    /// new connection's first answer).
    bool ids_unique() const noexcept { return ids_unique_; }

private:
    key_echo_policy policy_;
    bool server_echoes_ = false; ///< an answer has echoed its request's key (learn)
    bool ids_unique_ = true;
    recent_request_ids recent_;
};

/// The object a keyless request's path names (its last segment, when that is a Stripe id such as
/// acct_1Nv0FGQ9RKHgCVdK: is_stripe_id), or empty.
inline std::string_view asked_object_id(std::string_view target) noexcept {
    target = target.substr(0, target.find('?'));
    const std::size_t slash = target.rfind('/');
    const std::string_view last = slash == target.npos ? target : target.substr(slash + 1);
    return is_stripe_id(last) ? last : std::string_view{};
}

} // namespace stripe_asio::detail

#endif
