// The fake Stripe server's idempotency store (see idempotency_store.hpp).
#include "idempotency_store.hpp"

#include <algorithm>

namespace stripe_asio::testing::detail {

idempotency_store::match idempotency_store::find(std::string_view key, std::string_view fingerprint,
                                                 std::string& stored_body) const {
    std::lock_guard lock(mutex_);
    auto it = answers_.find(key);
    if (it == answers_.end()) return match::unknown_key;
    if (it->second.fingerprint != fingerprint) return match::other_request;
    stored_body = it->second.body;
    return match::same_request;
}

void idempotency_store::remember(std::string_view key, std::string fingerprint, const std::string& body) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = answers_.try_emplace(std::string(key), stored_answer{std::move(fingerprint), body, {}, {}});
    if (!inserted) return;
    it->second.age = order_.insert(order_.end(), &it->first);
    if (order_.size() > std::max<std::size_t>(capacity_, 1)) {
        auto oldest = answers_.find(*order_.front());
        if (oldest->second.delivered.total() > 0) --keys_delivered_;
        order_.pop_front();
        answers_.erase(oldest);
    }
}

void idempotency_store::count_delivered(std::string_view key, long in_step, long behind_stray) {
    std::lock_guard lock(mutex_);
    intact_delivered_.fetch_add(static_cast<std::uint64_t>(in_step + behind_stray),
                                std::memory_order_relaxed); // wraps correctly for a negative sum
    auto it = answers_.find(key);
    if (it == answers_.end()) return; // forgotten meanwhile
    key_deliveries& d = it->second.delivered;
    const bool had = d.total() > 0;
    d.in_step = static_cast<std::size_t>(static_cast<long>(d.in_step) + in_step);
    d.behind_stray = static_cast<std::size_t>(static_cast<long>(d.behind_stray) + behind_stray);
    const bool has = d.total() > 0;
    if (!had && has) ++keys_delivered_;
    else if (had && !has) --keys_delivered_;
}

std::optional<std::string> idempotency_store::link_for_key(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = answers_.find(key);
    if (it == answers_.end()) return std::nullopt;
    // Our own bodies: {"object":"login_link","created":N,"url":"..."}, no escapes in the URL.
    constexpr std::string_view url_field = R"("url":")";
    std::string_view body = it->second.body;
    std::size_t start = body.find(url_field);
    if (start == std::string_view::npos) return std::nullopt;
    start += url_field.size();
    std::size_t end = body.find('"', start);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(body.substr(start, end - start));
}

key_deliveries idempotency_store::deliveries_for_key(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = answers_.find(key);
    return it == answers_.end() ? key_deliveries{} : it->second.delivered;
}

std::size_t idempotency_store::keys_with_delivered_link() const {
    std::lock_guard lock(mutex_);
    return keys_delivered_;
}

key_deliveries idempotency_store::forget_key(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto it = answers_.find(key);
    if (it == answers_.end()) return {};
    const key_deliveries delivered = it->second.delivered;
    if (delivered.total() > 0) --keys_delivered_;
    order_.erase(it->second.age);
    answers_.erase(it);
    return delivered;
}

std::size_t idempotency_store::size() const {
    std::lock_guard lock(mutex_);
    return answers_.size();
}

} // namespace stripe_asio::testing::detail
