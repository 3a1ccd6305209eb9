#ifndef STRIPE_ASIO_IMPL_ERROR_IPP
#define STRIPE_ASIO_IMPL_ERROR_IPP

#include <stripe_asio/error.hpp>

#include <boost/asio/error.hpp>

#include <cstdio>

namespace stripe_asio {
namespace detail {

struct errc_info {
    const char* kind;
    const char* message;
};

inline errc_info describe(errc e) noexcept {
    switch (e) {
    case errc::invalid_account_id:
        return {"invalid_account_id", "invalid account id (expected acct_ followed by letters and digits)"};
    case errc::invalid_idempotency_key:
        return {"invalid_idempotency_key", "invalid idempotency key (1 to 255 visible ASCII characters)"};
    case errc::invalid_request_options: return {"invalid_request_options", "invalid request options"};
    case errc::missing_api_key: return {"missing_api_key", "no API key configured"};
    case errc::invalid_api_key_format:
        return {"invalid_api_key_format", "the API key contains whitespace or control characters"};
    case errc::invalid_config: return {"invalid_config", "invalid client configuration"};
    case errc::invalid_request: return {"invalid_request", "Stripe rejected the request as invalid"};
    case errc::authentication: return {"authentication", "Stripe did not accept the API key"};
    case errc::card_error: return {"card_error", "Stripe reported a card error"};
    case errc::permission: return {"permission", "the API key lacks permission for this request"};
    case errc::conflict: return {"conflict", "the request conflicted with another one"};
    case errc::rate_limit: return {"rate_limit", "Stripe rate limit reached"};
    case errc::idempotency_error:
        return {"idempotency_error", "the idempotency key was already used with other parameters"};
    case errc::api_error: return {"api_error", "Stripe reported an API error"};
    case errc::malformed_response: return {"malformed_response", "the response could not be understood"};
    case errc::response_too_large: return {"response_too_large", "the response exceeded the size limit"};
    case errc::connection_error: return {"connection_error", "no response from the server (connection failed)"};
    case errc::tls_verification_failed:
        return {"tls_verification_failed", "the server's TLS certificate or host name did not verify"};
    case errc::attempt_timeout: return {"attempt_timeout", "the attempt timed out"};
    case errc::deadline_exceeded: return {"deadline_exceeded", "the call's deadline passed"};
    case errc::too_many_pending: return {"too_many_pending", "too many calls already waiting for a connection"};
    case errc::client_shut_down: return {"client_shut_down", "the client was shut down"};
    case errc::out_of_memory: return {"out_of_memory", "memory ran out while the call was in progress"};
    case errc::rate_budget_exhausted:
        return {"rate_budget_exhausted", "the rate budget has no room for the call before its deadline"};
    }
    return {"unknown", "unknown stripe_asio error"};
}

class error_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "stripe_asio"; }
    std::string message(int ev) const override { return describe(static_cast<errc>(ev)).message; }
    char const* message(int ev, char* buffer, std::size_t len) const noexcept override {
        std::snprintf(buffer, len, "%s", describe(static_cast<errc>(ev)).message);
        return buffer;
    }
};

} // namespace detail

STRIPE_ASIO_DECL const boost::system::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}

STRIPE_ASIO_DECL const char* error_kind(const error_code& ec) noexcept {
    if (!ec) return "success";
    if (ec.category() == error_category()) return detail::describe(static_cast<errc>(ec.value())).kind;
    if (ec == boost::asio::error::operation_aborted) return "cancelled";
    return "system_error";
}

} // namespace stripe_asio

#endif
