#ifndef STRIPE_ASIO_IMPL_DIAGNOSTICS_IPP
#define STRIPE_ASIO_IMPL_DIAGNOSTICS_IPP

#include <stripe_asio/diagnostics.hpp>

namespace stripe_asio {

STRIPE_ASIO_DECL std::string diagnostics::to_string() const {
    std::string out;
    auto field = [&out](const char* name, const std::string& value) {
        if (value.empty()) return;
        if (!out.empty()) out += ' ';
        out += name;
        out += '=';
        out += value;
    };
    if (http_status != 0) out = "status=" + std::to_string(http_status);
    field("type", type);
    field("code", code);
    field("decline_code", decline_code);
    field("param", param);
    field("request_id", request_id);
    if (attempts != 0) field("attempts", std::to_string(attempts));
    field("detail", detail);
    if (!message.empty()) {
        if (!out.empty()) out += ' ';
        out += "message=\"" + message + '"';
    }
    return out;
}

} // namespace stripe_asio

#endif
