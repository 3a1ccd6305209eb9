// The client's rate budgets (rate_budget_config.hpp), sans-io: time is an input. Each budget is
// a GCRA cell (the generic cell rate algorithm, a token bucket kept as one time point): the
// theoretical arrival time `tat` of the next request; a request at time t fits when
// t >= tat - tolerance, and moves tat to max(tat, t) + interval. A call reserves its send time
// in the account's budget and its endpoint's together, at the later of their earliest times,
// or in neither when that time passes its deadline.
#ifndef STRIPE_ASIO_DETAIL_RATE_BUDGETS_HPP
#define STRIPE_ASIO_DETAIL_RATE_BUDGETS_HPP

#include <stripe_asio/detail/stripe_id.hpp>
#include <stripe_asio/rate_budget_config.hpp>
#include <stripe_asio/rate_limit_reason.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stripe_asio::detail {

using stripe_asio::rate_limit_reason;

inline rate_limit_reason parse_rate_limit_reason(std::string_view v) noexcept {
    if (v.empty()) return rate_limit_reason::none;
    if (v == "global-rate") return rate_limit_reason::global_rate;
    if (v == "endpoint-rate") return rate_limit_reason::endpoint_rate;
    if (v == "global-concurrency") return rate_limit_reason::global_concurrency;
    if (v == "endpoint-concurrency") return rate_limit_reason::endpoint_concurrency;
    if (v == "resource-specific") return rate_limit_reason::resource_specific;
    return rate_limit_reason::other;
}

/// Whether a key is for live mode (Stripe's larger account figure applies).
inline bool is_live_key(std::string_view key) noexcept {
    return key.substr(0, 8) == "sk_live_" || key.substr(0, 8) == "rk_live_";
}

/// One budget: a GCRA cell whose rate backs off after a 429 and climbs back slowly.
class paced_budget {
public:
    using clock = std::chrono::steady_clock;
    /// 429s this close together are one overload, and cut the rate once.
    static constexpr std::chrono::seconds cut_window{1};

    paced_budget(double per_second, double burst, double recovery_per_second) noexcept
        : configured_(per_second), cut_rate_(per_second), recovery_(recovery_per_second),
          // The burst's tolerance is fixed at the configured rate: a cut rate never lets more
          // through at once than the full one would.
          tolerance_(std::chrono::duration_cast<clock::duration>(
              std::chrono::duration<double>((std::max(burst, 1.0) - 1) / per_second))) {}

    /// The rate in force at `now`: the configured one, or one cut by a 429 and recovering.
    double rate(clock::time_point now) const noexcept {
        if (cut_rate_ >= configured_) return configured_;
        double since = std::chrono::duration<double>(now - cut_at_).count();
        return std::min(configured_, cut_rate_ + configured_ * recovery_ * std::max(since, 0.0));
    }

    /// When a request may go, at the earliest.
    clock::time_point earliest(clock::time_point now) const noexcept { return std::max(now, tat_ - tolerance_); }

    /// A request goes at `at` (no earlier than earliest(now)).
    void take(clock::time_point at, clock::time_point now) noexcept { tat_ = std::max(tat_, at) + interval(now); }

    /// A request goes at `at` by room given elsewhere (Redis): the next room here comes at least
    /// one interval after it, but such requests never push it further. A client's share of a
    /// shared budget is thus not stacked on top of Redis's room, nor left owing for every request
    /// Redis let through when Redis goes away.
    void count(clock::time_point at, clock::time_point now) noexcept { tat_ = std::max(tat_, at + interval(now)); }

    /// A 429 named this budget: its rate is multiplied by `factor`, from the rate now in force,
    /// once per cut_window, and never below a tenth of the configured rate: the calls already
    /// in flight when Stripe said no answer 429 together, and a budget cut to nothing would
    /// charge its next request a wait longer than its recovery.
    void cut(double factor, clock::time_point now) noexcept {
        if (cut_rate_ < configured_ && now - cut_at_ < cut_window) return;
        cut_rate_ = std::max(rate(now) * factor, configured_ / 10);
        cut_at_ = now;
    }

private:
    clock::duration interval(clock::time_point now) const noexcept {
        return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / rate(now)));
    }

    double configured_;
    double cut_rate_;
    double recovery_;
    clock::duration tolerance_;
    clock::time_point cut_at_{};
    clock::time_point tat_{};
};

/// The account's budget and one per endpoint. Endpoints are named as endpoint_budget says and
/// kept in a bounded table: past `max_endpoints` names, the rest share one budget.
class rate_budgets {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t max_endpoints = 256;
    static constexpr std::size_t shared_endpoint = 0; ///< where names past the bound go

    /// A reservation: the wait before sending, or (refused) how long until both budgets have room.
    struct decision {
        bool granted = true;
        clock::duration wait{};
    };

    rate_budgets(const rate_budget_config& cfg, bool live_key)
        : enabled_(cfg.enabled), cfg_(cfg),
          account_(paced(cfg.account_per_second > 0 ? cfg.account_per_second : (live_key ? 100.0 : 25.0))) {
        endpoints_.push_back(paced(cfg.endpoint_per_second));
        index_names_.emplace_back("(other endpoints)");
        for (const endpoint_budget& e : cfg.endpoints) {
            if (names_.count(e.endpoint) != 0 || endpoints_.size() >= max_endpoints) continue;
            endpoints_.push_back(paced(e.per_second));
            index_names_.push_back(e.endpoint);
            names_.emplace(e.endpoint, endpoints_.size() - 1);
        }
    }

    bool enabled() const noexcept { return enabled_; }

    /// The budget of the endpoint named `name` (made at first use).
    std::size_t endpoint(std::string_view name) {
        if (auto it = names_.find(name); it != names_.end()) return it->second;
        if (endpoints_.size() >= max_endpoints) return shared_endpoint;
        // The budget first: out of memory in between leaves a budget no name points at, not a
        // name pointing at no budget.
        endpoints_.push_back(paced(cfg_.endpoint_per_second));
        try {
            index_names_.emplace_back(name);
            try {
                names_.emplace(std::string(name), endpoints_.size() - 1);
            } catch (...) {
                index_names_.pop_back();
                throw;
            }
        } catch (...) {
            endpoints_.pop_back();
            throw;
        }
        return endpoints_.size() - 1;
    }

    /// The name of the endpoint budget at `endpoint`, as endpoint() was given it.
    std::string_view name(std::size_t endpoint) const noexcept {
        return index_names_[endpoint < index_names_.size() ? endpoint : shared_endpoint];
    }

    /// Reserves a send time in the account's budget and the endpoint's, or in neither when the
    /// earliest time both allow is later than now and after `deadline`. (A call whose deadline
    /// has already passed is not the budget's to refuse: its next step ends it.)
    decision reserve(std::size_t endpoint, clock::time_point now, clock::time_point deadline) noexcept {
        if (!enabled_) return {};
        auto at = earliest(endpoint, now);
        if (at > now && at > deadline) return {false, at - now};
        take(endpoint, at, now);
        return {true, at - now};
    }

    /// The earliest time both the account's budget and the endpoint's have room (now when off).
    clock::time_point earliest(std::size_t endpoint, clock::time_point now) const noexcept {
        if (!enabled_) return now;
        return std::max(account_.earliest(now), budget_of(endpoint).earliest(now));
    }
    /// A request goes at `at`, no earlier than earliest(): both budgets take it.
    void take(std::size_t endpoint, clock::time_point at, clock::time_point now) noexcept {
        if (!enabled_) return;
        account_.take(at, now);
        budget_of(endpoint).take(at, now);
    }
    /// A request goes at `at` by room given elsewhere: both budgets count it (paced_budget::count).
    void count(std::size_t endpoint, clock::time_point at, clock::time_point now) noexcept {
        if (!enabled_) return;
        account_.count(at, now);
        budget_of(endpoint).count(at, now);
    }

    /// A 429 said which budget Stripe found spent: that one backs off.
    void rate_limited(rate_limit_reason why, std::size_t endpoint, clock::time_point now) noexcept {
        if (!enabled_ || cfg_.backoff_factor >= 1) return;
        paced_budget& ep = endpoints_[endpoint < endpoints_.size() ? endpoint : shared_endpoint];
        switch (why) {
        case rate_limit_reason::global_rate:
        case rate_limit_reason::global_concurrency: account_.cut(cfg_.backoff_factor, now); return;
        case rate_limit_reason::endpoint_rate:
        case rate_limit_reason::endpoint_concurrency:
        case rate_limit_reason::resource_specific: ep.cut(cfg_.backoff_factor, now); return;
        case rate_limit_reason::other: account_.cut(cfg_.backoff_factor, now); return;
        case rate_limit_reason::none: return;
        }
    }

    /// The rates in force at `now`: the headroom's share of each limit, or less after a 429.
    double account_rate(clock::time_point now) const noexcept { return account_.rate(now); }
    double endpoint_rate(std::size_t endpoint, clock::time_point now) const noexcept {
        return endpoints_[endpoint < endpoints_.size() ? endpoint : shared_endpoint].rate(now);
    }

private:
    /// A budget for a limit of `per_second`, paced under it by the headroom.
    paced_budget paced(double per_second) const noexcept {
        return paced_budget(per_second * std::clamp(cfg_.headroom, 0.01, 1.0), cfg_.burst, cfg_.recovery_per_second);
    }
    paced_budget& budget_of(std::size_t endpoint) noexcept {
        return endpoints_[endpoint < endpoints_.size() ? endpoint : shared_endpoint];
    }
    const paced_budget& budget_of(std::size_t endpoint) const noexcept {
        return endpoints_[endpoint < endpoints_.size() ? endpoint : shared_endpoint];
    }

    bool enabled_;
    rate_budget_config cfg_;
    paced_budget account_;
    std::vector<paced_budget> endpoints_; ///< [0]: shared by names past max_endpoints
    std::map<std::string, std::size_t, std::less<>> names_;
    std::vector<std::string> index_names_; ///< by index: [0] names the budget past the bound
};

/// One client's share of budgets shared by `fleet_size` clients: every rate divided by it (the
/// account's resolved from the key first), and the burst too, down to 1.
inline rate_budget_config share_of(rate_budget_config cfg, bool live_key, unsigned fleet_size) {
    double n = std::max(fleet_size, 1u);
    if (cfg.account_per_second == 0) cfg.account_per_second = live_key ? 100.0 : 25.0;
    cfg.account_per_second /= n;
    cfg.endpoint_per_second /= n;
    for (endpoint_budget& e : cfg.endpoints) e.per_second /= n;
    cfg.burst = std::max(1.0, cfg.burst / n);
    return cfg;
}

/// The name of an endpoint's budget: "METHOD /path" with ids replaced (see endpoint_budget).
inline std::string endpoint_name(std::string_view method, std::string_view path) {
    std::string out(method);
    out += ' ';
    std::size_t query = path.find('?');
    path = path.substr(0, query);
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t end = path.find('/', i + 1);
        if (end == std::string_view::npos) end = path.size();
        std::string_view segment = path.substr(i, end - i); // with its leading '/'
        std::string_view text = segment.substr(segment.empty() || segment[0] != '/' ? 0 : 1);
        // Ids of another form (a coupon's code) name endpoints of their own, within the bounded table.
        if (is_stripe_id(text)) {
            out += '/';
            out += text.substr(0, 5) == "acct_" ? ":account" : ":id";
        } else {
            out += segment;
        }
        i = end;
    }
    return out;
}

} // namespace stripe_asio::detail

#endif
