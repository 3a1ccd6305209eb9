#ifndef STRIPE_ASIO_IMPL_RESPONSE_PARSING_IPP
#define STRIPE_ASIO_IMPL_RESPONSE_PARSING_IPP

#include <stripe_asio/detail/response_parsing.hpp>
#include <stripe_asio/detail/validation.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace stripe_asio::detail {

STRIPE_ASIO_DECL errc errc_from_status(unsigned status, std::string_view type) noexcept {
    switch (status) {
    case 400:
    case 404: return type == "idempotency_error" ? errc::idempotency_error : errc::invalid_request;
    case 401: return errc::authentication;
    case 402: return errc::card_error;
    case 403: return errc::permission;
    case 409: return errc::conflict;
    case 429: return errc::rate_limit;
    default: return errc::api_error;
    }
}

inline void copy_string_field(const boost::json::object& obj, std::string_view name, std::string& out) {
    if (auto* v = obj.if_contains(name); v && v->is_string())
        out.assign(v->get_string().data(), v->get_string().size());
}

STRIPE_ASIO_DECL bool parse_stripe_error(std::string_view body, diagnostics& diag) {
    unsigned char buffer[4096];
    boost::json::monotonic_resource mr(buffer, sizeof buffer);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec, &mr);
    if (ec || !v.is_object()) return false;
    auto* err = v.get_object().if_contains("error");
    if (!err || !err->is_object()) return false;
    const auto& e = err->get_object();
    copy_string_field(e, "type", diag.type);
    copy_string_field(e, "code", diag.code);
    copy_string_field(e, "decline_code", diag.decline_code);
    copy_string_field(e, "message", diag.message);
    copy_string_field(e, "param", diag.param);
    copy_string_field(e, "doc_url", diag.doc_url);
    return true;
}

STRIPE_ASIO_DECL bool is_acceptable_login_url(std::string_view url) noexcept {
    constexpr std::string_view scheme = "https://";
    if (url.size() <= scheme.size() || url.size() > max_login_url_length) return false;
    if (url.substr(0, scheme.size()) != scheme) return false; // Stripe's are lower case; nothing else is needed
    for (char c : url)
        if (c <= 0x20 || c >= 0x7F || c == '\\') return false;
    std::string_view rest = url.substr(scheme.size());
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        for (char c : authority.substr(1, close - 1))
            if (!(is_ascii_alnum(c) || c == ':' || c == '.')) return false;
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') return false;
        port = after.empty() ? after : after.substr(1);
        host = authority.substr(0, close + 1);
    } else {
        auto colon = authority.find(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
        }
        if (host.empty() || host.front() == '.' || host.front() == '-') return false;
        for (char c : host)
            if (!(is_ascii_alnum(c) || c == '-' || c == '.')) return false;
    }
    if (authority.find(':') != std::string_view::npos && authority.back() == ':') return false;
    if (port.size() > 5) return false;
    unsigned number = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        number = number * 10 + unsigned(c - '0');
    }
    return port.empty() || (number > 0 && number <= 65535);
}

STRIPE_ASIO_DECL error_code parse_login_link(std::string_view body, login_link& out, std::string& why) {
    unsigned char buffer[4096];
    boost::json::monotonic_resource mr(buffer, sizeof buffer);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec, &mr);
    auto fail = [&why](const char* reason) {
        why = reason;
        return error_code(errc::malformed_response);
    };
    if (ec) return fail("response body is not JSON");
    if (!v.is_object()) return fail("response body is not a JSON object");
    const auto& obj = v.get_object();
    auto* object = obj.if_contains("object");
    if (!object || !object->is_string() || object->get_string() != "login_link")
        return fail("response is not a login_link object");
    auto* url = obj.if_contains("url");
    if (!url || !url->is_string() || url->get_string().empty()) return fail("login_link has no url");
    if (url->get_string().size() > max_login_url_length)
        return fail("login_link url is longer than 5000 characters, the most a redirect may carry here");
    if (!is_acceptable_login_url(url->get_string()))
        return fail("login_link url is not an absolute https URL with a host");
    auto* created = obj.if_contains("created");
    if (!created || !(created->is_int64() || created->is_uint64())) return fail("login_link has no created time");
    if (created->is_uint64() && created->get_uint64() > std::uint64_t(INT64_MAX))
        return fail("login_link created time is out of range");
    out.object = "login_link";
    out.created = created->is_int64() ? created->get_int64() : std::int64_t(created->get_uint64());
    out.url.assign(url->get_string().data(), url->get_string().size());
    return {};
}

STRIPE_ASIO_DECL bool names_another_object(std::string_view body, std::string_view asked_id) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return false; // not an object: parsing the result will say so
    const auto* id = v.get_object().if_contains("id");
    return id && id->is_string() && std::string_view(id->get_string()) != asked_id;
}

STRIPE_ASIO_DECL error_code parse_json_object(std::string_view body, json_response& out, std::string& why) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) {
        why = "response body is not a JSON object";
        return errc::malformed_response;
    }
    out.body = std::move(v);
    return {};
}

} // namespace stripe_asio::detail

#endif
