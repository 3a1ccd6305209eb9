#ifndef STRIPE_ASIO_IMPL_DIAGNOSTICS_IPP
#define STRIPE_ASIO_IMPL_DIAGNOSTICS_IPP

#include <stripe_asio/detail/server_text.hpp>
#include <stripe_asio/diagnostics.hpp>

namespace stripe_asio {

STRIPE_ASIO_DECL std::string diagnostics::to_string() const {
    // Most fields come from a server: each is escaped (one line, no terminal control) and cut.
    constexpr std::size_t field_cap = 256;
    constexpr std::size_t text_cap = 1024;
    std::string out;
    auto field = [&out](const char* name, std::string_view value, std::size_t cap) {
        if (value.empty()) return;
        if (!out.empty()) out += ' ';
        out += name;
        out += '=';
        detail::append_printable(out, value, cap);
    };
    if (http_status != 0) out = "status=" + std::to_string(http_status);
    field("type", type, field_cap);
    field("code", code, field_cap);
    field("decline_code", decline_code, field_cap);
    field("param", param, field_cap);
    field("request_id", request_id, field_cap);
    if (attempts != 0) field("attempts", std::to_string(attempts), field_cap);
    field("rate_limited_reason", name(rate_limited_reason), field_cap);
    if (rate_budget_wait.count() != 0)
        field("rate_budget_wait_ms", std::to_string(rate_budget_wait.count()), field_cap);
    field("detail", detail, text_cap);
    if (!message.empty()) {
        if (!out.empty()) out += ' ';
        out += "message=\"";
        detail::append_printable(out, message, text_cap);
        out += '"';
    }
    return out;
}

} // namespace stripe_asio

#endif
