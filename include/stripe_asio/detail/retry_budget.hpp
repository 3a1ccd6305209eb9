// The client-wide retry budget, after gRPC's retry throttling: failures spend tokens, successes
// earn a fraction of one back, and retries go only while more than half the tokens are left. When
// Stripe fails most calls, retries stop multiplying its load: each call then costs about one
// request, not 1 + max_retries. Sans-io: no clock, no I/O.
#ifndef STRIPE_ASIO_DETAIL_RETRY_BUDGET_HPP
#define STRIPE_ASIO_DETAIL_RETRY_BUDGET_HPP

#include <algorithm>

namespace stripe_asio::detail {

class retry_budget {
public:
    /// max_tokens 0: no budget (retries follow the per-call rules alone).
    retry_budget(double max_tokens, double token_ratio) noexcept
        : max_(std::max(max_tokens, 0.0)), ratio_(std::max(token_ratio, 0.0)), tokens_(max_) {}

    bool enabled() const noexcept { return max_ > 0; }
    /// A retry may go now.
    bool allows_retry() const noexcept { return !enabled() || tokens_ > max_ / 2; }
    /// An attempt failed in a way a retry could have mended (5xx, 409, no answer).
    void on_failure() noexcept { tokens_ = std::max(tokens_ - 1, 0.0); }
    /// An attempt succeeded.
    void on_success() noexcept { tokens_ = std::min(tokens_ + ratio_, max_); }
    double tokens() const noexcept { return tokens_; }

private:
    double max_;
    double ratio_;
    double tokens_;
};

} // namespace stripe_asio::detail

#endif
