#ifndef STRIPE_ASIO_IMPL_CONFIG_IPP
#define STRIPE_ASIO_IMPL_CONFIG_IPP

#include <stripe_asio/config.hpp>
#include <stripe_asio/detail/base_url.hpp>
#include <stripe_asio/detail/redis_url.hpp>
#include <stripe_asio/detail/validation.hpp>
#include <stripe_asio/error_with_diagnostics.hpp>

#include <cstdlib>

namespace stripe_asio {

STRIPE_ASIO_DECL config config::from_env() {
    config cfg;
    if (const char* key = std::getenv("STRIPE_API_KEY")) cfg.api_key = key;
    if (const char* base = std::getenv("STRIPE_API_BASE"); base && *base) cfg.base_url = base;
    if (const char* ca = std::getenv("STRIPE_CA_FILE"); ca && *ca) cfg.ca_file = ca;
    return cfg;
}

namespace detail {
inline void validate_shared_budget(const shared_budget_config& sb) {
    auto fail = [](std::string why) {
        diagnostics diag;
        diag.detail = std::move(why);
        throw error_with_diagnostics(errc::invalid_config, std::move(diag));
    };
#ifndef STRIPE_ASIO_WITH_REDIS
    fail("config.shared_budget.url is set, but this build has no Redis (build with STRIPE_ASIO_WITH_REDIS)");
#endif
    std::string why;
    auto redis = detail::parse_redis_url(sb.url, why);
    if (!redis) fail("config.shared_budget.url: " + why);
    if (!redis->tls && (!sb.ca_file.empty() || !sb.ca_pem.empty()))
        fail("config.shared_budget.ca_file and ca_pem are for rediss:// only");
    if (sb.key_prefix.size() > 256 || sb.account.size() > 256)
        fail("config.shared_budget.key_prefix and account: at most 256 bytes each");
    if (sb.fleet_size < 1 || sb.fleet_size > 10'000) fail("config.shared_budget.fleet_size must be 1 to 10000");
    if (sb.connections < 1 || sb.connections > 16) fail("config.shared_budget.connections must be 1 to 16");
    auto positive = [](std::chrono::milliseconds t) { return t.count() > 0 && t <= std::chrono::hours(1); };
    if (!positive(sb.connect_timeout) || !positive(sb.command_timeout) || !positive(sb.reconnect_min) ||
        !positive(sb.reconnect_max) || sb.reconnect_min > sb.reconnect_max)
        fail("config.shared_budget timeouts must be positive, at most an hour, reconnect_min <= reconnect_max");
}
} // namespace detail

STRIPE_ASIO_DECL void config::validate() const {
    auto fail = [](errc e, std::string why) {
        diagnostics diag;
        diag.detail = std::move(why);
        throw error_with_diagnostics(e, std::move(diag));
    };
    if (api_key.empty()) fail(errc::missing_api_key, "config.api_key is empty (set STRIPE_API_KEY)");
    if (!detail::is_valid_api_key_format(api_key))
        fail(errc::invalid_api_key_format, "config.api_key holds whitespace, control or non-ASCII characters");
    std::string why;
    if (!detail::parse_base_url(base_url, why)) fail(errc::invalid_config, "config.base_url: " + why);
    if (stripe_version.empty() || !detail::is_safe_header_value(stripe_version))
        fail(errc::invalid_config, "config.stripe_version must be non-empty printable ASCII");
    if (attempt_timeout.count() <= 0) fail(errc::invalid_config, "config.attempt_timeout must be positive");
    if (call_timeout.count() < 0) fail(errc::invalid_config, "config.call_timeout must not be negative");
    if (max_connections == 0) fail(errc::invalid_config, "config.max_connections must be at least 1");
    if (idle_timeout.count() < 0) fail(errc::invalid_config, "config.idle_timeout must not be negative");
    if (min_idle > max_connections) fail(errc::invalid_config, "config.min_idle must not exceed max_connections");
    const rate_budget_config& rb = rate_budget;
    // At least one request an hour: an interval past that is no budget anyone means, and the
    // arithmetic of far smaller rates overflows the clock.
    auto rate_ok = [](double r) { return r >= 1.0 / 3600 && r <= 1e6; }; // false for NaN too
    if ((rb.account_per_second != 0 && !rate_ok(rb.account_per_second)) || !rate_ok(rb.endpoint_per_second))
        fail(errc::invalid_config,
             "config.rate_budget rates must be from 1/3600 to 1e6 per second (account 0: Stripe's for the key)");
    if (rb.endpoints.size() > 255) fail(errc::invalid_config, "config.rate_budget.endpoints: at most 255 entries");
    for (const endpoint_budget& e : rb.endpoints)
        if (e.endpoint.empty() || !rate_ok(e.per_second))
            fail(errc::invalid_config, "config.rate_budget.endpoints: a name and a rate from 1/3600 to 1e6 each");
    if (rb.max_wait > std::chrono::hours(24))
        fail(errc::invalid_config, "config.rate_budget.max_wait must be at most a day");
    if (rb.max_wait.count() < 0) fail(errc::invalid_config, "config.rate_budget.max_wait must not be negative");
    if (!(rb.headroom > 0 && rb.headroom <= 1))
        fail(errc::invalid_config, "config.rate_budget.headroom must be in (0, 1]");
    if (!(rb.burst >= 1 && rb.burst <= 1e6)) fail(errc::invalid_config, "config.rate_budget.burst must be at least 1");
    if (!(rb.backoff_factor > 0 && rb.backoff_factor <= 1))
        fail(errc::invalid_config, "config.rate_budget.backoff_factor must be in (0, 1]");
    if (!(rb.recovery_per_second > 0 && rb.recovery_per_second < 1e6))
        fail(errc::invalid_config, "config.rate_budget.recovery_per_second must be positive");
    if (!shared_budget.url.empty()) detail::validate_shared_budget(shared_budget);
    if (max_response_bytes == 0) fail(errc::invalid_config, "config.max_response_bytes must be at least 1");
    if (retry.initial_delay.count() < 0 || retry.max_delay.count() < 0)
        fail(errc::invalid_config, "config.retry delays must not be negative");
    if (!(retry.budget_max_tokens >= 0 && retry.budget_max_tokens < 1e9) ||
        !(retry.budget_token_ratio >= 0 && retry.budget_token_ratio < 1e9))
        fail(errc::invalid_config, "config.retry budget fields must be finite and not negative");
    if (connect_timeout.count() <= 0) fail(errc::invalid_config, "config.connect_timeout must be positive");
    if (key_echo != key_echo_policy::learn && key_echo != key_echo_policy::required &&
        key_echo != key_echo_policy::ignored)
        fail(errc::invalid_config, "config.key_echo must be learn, required or ignored");
}

} // namespace stripe_asio

#endif
