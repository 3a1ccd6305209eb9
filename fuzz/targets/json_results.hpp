// Response bodies as Stripe (or anything posing as it) may send them: login links, error objects
// and generic JSON objects.
#ifndef STRIPE_ASIO_FUZZ_JSON_RESULTS_HPP
#define STRIPE_ASIO_FUZZ_JSON_RESULTS_HPP

#include "fuzz_support.hpp"

#include <stripe_asio/detail/response_parsing.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stripe_asio::fuzz {

/// A URL we are willing to redirect a user to: https, a host, and no byte that could end or
/// bend it (controls, space, DEL) when it lands in a Location header or an HTML attribute.
inline bool is_redirectable_url(std::string_view url) noexcept {
    constexpr std::string_view scheme = "https://";
    if (url.substr(0, scheme.size()) != scheme) return false;
    for (char c : url)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) == 0x7f) return false;
    std::string_view rest = url.substr(scheme.size());
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    const bool bracketed = !authority.empty() && authority.front() == '[';
    std::string_view host =
        bracketed ? authority.substr(1, authority.find(']') - 1) : authority.substr(0, authority.find(':'));
    return !host.empty();
}

inline int fuzz_json_results(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);

    json_response object;
    std::string object_why;
    const bool is_object = !detail::parse_json_object(body, object, object_why);
    STRIPE_ASIO_FUZZ_CHECK(is_object ? object.body.is_object() && object_why.empty() : !object_why.empty());

    login_link link;
    link.created = -7; // a failed parse must leave the output as it was
    std::string link_why;
    error_code ec = detail::parse_login_link(body, link, link_why);
    if (!ec) {
        STRIPE_ASIO_FUZZ_CHECK(is_object);
        STRIPE_ASIO_FUZZ_CHECK(link.object == "login_link");
        if (is_object) { // the fields are the ones a plain parse of the same body sees
            const auto& obj = object.body.get_object();
            const auto* url = obj.if_contains("url");
            const auto* created = obj.if_contains("created");
            STRIPE_ASIO_FUZZ_CHECK(url && url->is_string() && url->get_string() == link.url);
            const bool same_created = created && ((created->is_int64() && created->get_int64() == link.created) ||
                                                  (created->is_uint64() && link.created >= 0 &&
                                                   created->get_uint64() == static_cast<std::uint64_t>(link.created)));
            STRIPE_ASIO_FUZZ_CHECK(same_created);
        }
        STRIPE_ASIO_FUZZ_CHECK(is_redirectable_url(link.url));
    } else {
        STRIPE_ASIO_FUZZ_CHECK(ec == errc::malformed_response);
        STRIPE_ASIO_FUZZ_CHECK(!link_why.empty());
        STRIPE_ASIO_FUZZ_CHECK(link.object.empty() && link.url.empty() && link.created == -7);
    }

    diagnostics diag;
    if (detail::parse_stripe_error(body, diag)) {
        STRIPE_ASIO_FUZZ_CHECK(is_object && object.body.as_object().contains("error"));
    } else {
        STRIPE_ASIO_FUZZ_CHECK(diag.type.empty() && diag.code.empty() && diag.decline_code.empty() &&
                               diag.message.empty() && diag.param.empty() && diag.doc_url.empty());
    }
    return 0;
}

} // namespace stripe_asio::fuzz

#endif
