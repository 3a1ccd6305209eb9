// Stripe-shaped rate limits for the fake server (see rate_limits.hpp).
#include "rate_limits.hpp"

#include <algorithm>
#include <cmath>

namespace stripe_asio::testing::detail {

namespace {

std::chrono::steady_clock::duration seconds_of(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

} // namespace

rate_limits::rate_limits(fake_stripe::options::rate_limit_options opts, clock::time_point start)
    : opts_(opts), start_(start) {
    opts_.burst = std::clamp(opts_.burst, 1.0, 1e6);
    // Rates under one an hour are taken as one an hour: smaller ones overflow the clock.
    for (double* r : {&opts_.account_per_second, &opts_.endpoint_per_second})
        if (*r > 0) *r = std::clamp(*r, 1.0 / 3600, 1e6);
}

bool rate_limits::fits(cell& c, double per_second, clock::time_point now) const {
    if (per_second <= 0) return true;
    if (opts_.sliding_window) {
        // Closed at both ends: a request exactly one second after another shares its window.
        while (!c.admitted.empty() && c.admitted.front() < now - std::chrono::seconds(1)) c.admitted.pop_front();
        return static_cast<double>(c.admitted.size()) + 1 <= std::max(1.0, std::floor(per_second));
    }
    return now >= c.tat - seconds_of((opts_.burst - 1) / per_second);
}

void rate_limits::take(cell& c, double per_second, clock::time_point now) const {
    if (per_second <= 0) return;
    if (opts_.sliding_window) c.admitted.push_back(now);
    else c.tat = std::max(c.tat, now) + seconds_of(1 / per_second);
}

std::string_view rate_limits::admit(std::string_view endpoint, clock::time_point now) {
    std::string_view refusal;
    cell* ep = nullptr;
    if (opts_.endpoint_per_second > 0) {
        auto it = endpoints_.find(endpoint);
        // A client naming endpoints without end must not grow the server without end.
        if (it == endpoints_.end() && endpoints_.size() < 4096)
            it = endpoints_.emplace(std::string(endpoint), cell{}).first;
        if (it != endpoints_.end()) ep = &it->second;
    }
    if (!fits(account_, opts_.account_per_second, now)) refusal = "global-rate";
    else if (ep && !fits(*ep, opts_.endpoint_per_second, now)) refusal = "endpoint-rate";
    auto second = static_cast<std::size_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(now - start_).count()));
    auto count = [second](std::vector<std::uint64_t>& by_second) {
        if (second >= 86'400) return; // a day of seconds at most
        if (by_second.size() <= second) by_second.resize(second + 1);
        ++by_second[second];
    };
    std::lock_guard lock(stats_mutex_);
    if (!refusal.empty()) {
        ++refused_;
        count(refused_per_second_);
        return refusal;
    }
    take(account_, opts_.account_per_second, now);
    if (ep) take(*ep, opts_.endpoint_per_second, now);
    count(per_second_);
    return {};
}

std::vector<std::uint64_t> rate_limits::admitted_per_second() const {
    std::lock_guard lock(stats_mutex_);
    return per_second_;
}

std::vector<std::uint64_t> rate_limits::refused_per_second() const {
    std::lock_guard lock(stats_mutex_);
    return refused_per_second_;
}

std::uint64_t rate_limits::refused() const {
    std::lock_guard lock(stats_mutex_);
    return refused_;
}

} // namespace stripe_asio::testing::detail
