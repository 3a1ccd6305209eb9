// The fault script, the random fault draw, and the public fault factories (see faults.hpp).
#include "faults.hpp"

#include "stripe_errors.hpp"

namespace stripe_asio::testing {

fault fault::stripe_error(unsigned status, std::string type, std::string code, std::string message) {
    fault f;
    f.status = status;
    f.body = detail::error_json(type, code, message);
    return f;
}

fault fault::stripe_error_should_retry(unsigned status, bool should_retry, std::string type, std::string code) {
    fault f = stripe_error(status, std::move(type), std::move(code));
    f.headers.emplace_back("Stripe-Should-Retry", should_retry ? "true" : "false");
    return f;
}

fault fault::with(action a) {
    fault f;
    f.what = a;
    return f;
}

fault fault::delayed(std::chrono::milliseconds d) {
    fault f;
    f.delay = d;
    return f;
}

const char* fake_stripe::name(random_fault_kind k) noexcept {
    using rk = random_fault_kind;
    switch (k) {
    case rk::status_500: return "500";
    case rk::status_503: return "503";
    case rk::status_409_lock_timeout: return "409_lock_timeout";
    case rk::status_429_rate_limit: return "429_rate_limit";
    case rk::status_429_lock_timeout: return "429_lock_timeout";
    case rk::status_400: return "400";
    case rk::status_402: return "402";
    case rk::close_before_response: return "close_before_response";
    case rk::close_mid_headers: return "close_mid_headers";
    case rk::truncated_body: return "truncated_body";
    case rk::garbage_body: return "garbage_body";
    case rk::oversized_body: return "oversized_body";
    case rk::hang: return "hang";
    case rk::delay: return "delay";
    case rk::reset: return "reset";
    case rk::duplicate_response: return "duplicate_response";
    case rk::trailing_garbage: return "trailing_garbage";
    }
    return "unknown";
}

} // namespace stripe_asio::testing

namespace stripe_asio::testing::detail {

void fault_script::append(std::vector<fault> faults) {
    std::lock_guard lock(mutex_);
    for (auto& f : faults) faults_.push_back(std::move(f));
}

void fault_script::push(fault f) {
    std::lock_guard lock(mutex_);
    faults_.push_back(std::move(f));
}

std::optional<fault> fault_script::take() {
    std::lock_guard lock(mutex_);
    if (faults_.empty()) return std::nullopt;
    std::optional<fault> f(std::move(faults_.front()));
    faults_.pop_front();
    injected_.fetch_add(1, std::memory_order_relaxed);
    return f;
}

std::uint64_t random_faults::injected() const {
    std::uint64_t total = 0;
    for (const auto& n : counts_) total += n.load();
    return total;
}

std::optional<fault> random_faults::draw() {
    const auto& rf = opts_;
    if (!(rf.rate > 0)) return std::nullopt;
    // Plain arithmetic on the generator's output: the same draws from a seed everywhere.
    auto uniform = [this](std::uint64_t n) { return random_() % n; };
    auto duration = [&](std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
        if (hi <= lo) return lo;
        const auto span = static_cast<std::uint64_t>((hi - lo).count());
        return lo + std::chrono::milliseconds(uniform(span + 1));
    };
    const double draw = static_cast<double>(random_() >> 11) * 0x1.0p-53;
    if (draw >= rf.rate) return std::nullopt;
    const auto drawn = static_cast<kind>(uniform(fake_stripe::random_fault_kinds));
    counts_[static_cast<std::size_t>(drawn)].fetch_add(1, std::memory_order_relaxed);

    auto error = [&](unsigned status, const char* type, const char* code) {
        fault e = fault::stripe_error(status, type, code);
        if (auto header = uniform(3); header > 0)
            e.headers.emplace_back("Stripe-Should-Retry", header == 1 ? "true" : "false");
        return e;
    };
    using k = kind;
    switch (drawn) {
    case k::status_500: return error(500, "api_error", "");
    case k::status_503: return error(503, "api_error", "");
    case k::status_409_lock_timeout: return error(409, "invalid_request_error", "lock_timeout");
    case k::status_429_rate_limit: return error(429, "invalid_request_error", "rate_limit");
    case k::status_429_lock_timeout: return error(429, "invalid_request_error", "lock_timeout");
    case k::status_400: return error(400, "invalid_request_error", "parameter_invalid_empty");
    case k::status_402: return error(402, "card_error", "card_declined");
    case k::close_before_response: return fault::with(fault::action::close_before_response);
    case k::close_mid_headers: return fault::with(fault::action::close_mid_headers);
    case k::truncated_body: return fault::with(fault::action::truncated_body);
    case k::garbage_body: return fault::with(fault::action::garbage_body);
    case k::oversized_body: return fault::with(fault::action::oversized_body);
    case k::hang: {
        fault h = fault::with(fault::action::hang);
        h.hang_for = duration(rf.hang_for_min, rf.hang_for_max);
        return h;
    }
    case k::delay: return fault::delayed(duration(rf.delay_min, rf.delay_max));
    case k::reset: return fault::with(fault::action::reset);
    case k::duplicate_response:
    case k::trailing_garbage: {
        fault stray = fault::with(drawn == k::duplicate_response ? fault::action::duplicate_response
                                                                 : fault::action::trailing_garbage);
        stray.stray_in_separate_write = uniform(2) == 1;
        return stray;
    }
    }
    return std::nullopt;
}

} // namespace stripe_asio::testing::detail
