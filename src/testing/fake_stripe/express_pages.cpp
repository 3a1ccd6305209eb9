// The Express dashboard pages (see express_pages.hpp).
#include "express_pages.hpp"

#include "text.hpp"

namespace stripe_asio::testing::detail {

namespace {

const std::string& express_page_head() {
    static const std::string s =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe Express</title></head>"
        "<body><h1>";
    return s;
}

const std::string& expired_page() {
    static const std::string s =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe Express</title></head>"
        "<body><h1>This login link has expired</h1><p>Ask the platform for a new one.</p>"
        "</body></html>";
    return s;
}

} // namespace

unsigned express_page(std::string_view path, link_tokens& tokens, std::string& page, std::string& scratch) {
    std::string_view rest = path.substr(express_path_prefix.size());
    std::size_t slash = rest.find('/');
    bool first_visit = false;
    if (slash != std::string_view::npos) {
        std::string_view token = rest.substr(slash + 1);
        if (percent_decode(rest.substr(0, slash), scratch, false) && is_account_id(scratch) &&
            tokens.valid(scratch, token))
            first_visit = tokens.first_visit(token);
    }
    if (!first_visit) {
        page = expired_page();
        return 410;
    }
    page = express_page_head();
    page.append("Express Dashboard for ").append(scratch).append("</h1></body></html>");
    return 200;
}

} // namespace stripe_asio::testing::detail
