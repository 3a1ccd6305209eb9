// How the fake Stripe server answers a request (see rules.hpp).
#include "rules.hpp"

#include "express_pages.hpp"
#include "stripe_errors.hpp"
#include "text.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <ctime>
#include <optional>

namespace stripe_asio::testing::detail {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

/// `expand[]` or `expand[N]`: the only parameters a login-link call takes.
bool is_expand_parameter(std::string_view name) {
    if (!name.starts_with("expand[") || !name.ends_with("]")) return false;
    std::string_view index = name.substr(7, name.size() - 8);
    for (char ch : index)
        if (ch < '0' || ch > '9') return false;
    return true;
}

/// What Stripe prints of a rejected key: its well-known prefix, stars, and the last four
/// characters when the key is long enough that those four give nothing away.
std::string masked_key(std::string_view key) {
    std::string out;
    for (std::string_view prefix : {"sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"}) {
        if (key.starts_with(prefix)) {
            out = prefix;
            key.remove_prefix(prefix.size());
            break;
        }
    }
    out += "****";
    if (key.size() >= 8 && all_alnum(key.substr(key.size() - 4))) out += key.substr(key.size() - 4);
    return out;
}

} // namespace

void reply::clear() {
    what = fault::action::respond;
    status = 200;
    content_type = "application/json";
    body.clear();
    delay = {};
    hang_for = {};
    oversized_bytes = 0;
    extra_headers.clear();
    intact = false;
    delivery_key.clear();
    stray_separate = false;
    stray_without_key = false;
    stray_delay = {};
    stray_before_next_answer = false;
    keep_alive = true;
    replayed = false;
    login_call = false;
}

rules::rules(settings s)
    : settings_(std::move(s)), idempotency_(settings_.idempotency_capacity), random_faults_(settings_.random_faults),
      limits_(settings_.rate_limits, std::chrono::steady_clock::now()) {}

void rules::decide(const request& req, reply& r, std::chrono::steady_clock::time_point now) {
    r.clear();
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));

    if (path == "/_fake_stripe/rate_stats" && req.method() == http::verb::get) {
        r.body = "{\"admitted_per_second\":[";
        bool first = true;
        for (std::uint64_t n : limits_.admitted_per_second()) {
            if (!first) r.body += ',';
            first = false;
            r.body += std::to_string(n);
        }
        r.body += "],\"rate_limited_per_second\":[";
        first = true;
        for (std::uint64_t n : limits_.refused_per_second()) {
            if (!first) r.body += ',';
            first = false;
            r.body += std::to_string(n);
        }
        r.body += "],\"rate_limited\":" + std::to_string(limits_.refused()) + "}";
        return;
    }

    if (path.starts_with(express_path_prefix) && req.method() == http::verb::get) {
        r.content_type = express_content_type;
        r.status = express_page(path, tokens_, r.body, scratch_);
        return;
    }
    if (path != "/v1" && !path.starts_with("/v1/")) return not_found(req, path, r);

    // /v1/accounts/{account}/login_links
    constexpr std::string_view prefix = "/v1/accounts/";
    constexpr std::string_view suffix = "/login_links";
    std::string_view segment;
    bool login_route =
        path.size() >= prefix.size() + suffix.size() && path.starts_with(prefix) && path.ends_with(suffix);
    if (login_route) {
        segment = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
        login_route = segment.find('/') == std::string_view::npos;
    }
    r.login_call = login_route && req.method() == http::verb::post;
    if (r.login_call) login_calls_.fetch_add(1, std::memory_order_relaxed);

    if (!authorized(req, r)) return;
    if (limits_.enabled()) {
        // Stripe limits before its idempotency layer: a refused request is not stored.
        std::string endpoint(req.method_string());
        endpoint += ' ';
        endpoint += login_route ? std::string_view("/v1/accounts/:account/login_links") : path;
        if (std::string_view why = limits_.admit(endpoint, now); !why.empty()) {
            r.status = 429;
            r.extra_headers.emplace_back("Stripe-Rate-Limited-Reason", std::string(why));
            r.body = error_json("invalid_request_error", "rate_limit",
                                "Request rate limit exceeded. Learn more about rate limits here "
                                "https://stripe.com/docs/rate-limits.");
            return;
        }
    }
    if (!r.login_call) return not_found(req, path, r);
    login_link(req, segment, r);
}

bool rules::authorized(const request& req, reply& r) const {
    const std::string_view auth = trim(req[http::field::authorization]);
    std::string_view presented;
    std::optional<std::string> basic;
    if (auth.size() > 7 && beast::iequals(auth.substr(0, 7), "Bearer ")) {
        presented = trim(auth.substr(7));
    } else if (auth.size() > 6 && beast::iequals(auth.substr(0, 6), "Basic ")) {
        basic = base64_decode(trim(auth.substr(6)));
        if (basic) presented = std::string_view(*basic).substr(0, basic->find(':'));
    }
    if (!presented.empty() && presented == settings_.api_key) return true;

    r.status = 401;
    r.extra_headers.emplace_back("WWW-Authenticate", "Basic realm=\"Stripe\"");
    if (auth.empty())
        r.body = error_json("invalid_request_error", {},
                            "You did not provide an API key. You need to provide your API key in "
                            "the Authorization header, using Bearer auth (e.g. 'Authorization: "
                            "Bearer YOUR_SECRET_KEY').");
    else r.body = error_json("invalid_request_error", {}, "Invalid API Key provided: " + masked_key(presented));
    return false;
}

void rules::not_found(const request& req, std::string_view path, reply& r) const {
    r.status = 404;
    std::string message = "Unrecognized request URL (";
    message.append(req.method_string()).append(": ").append(path).append(").");
    r.body = error_json("invalid_request_error", {}, message);
}

void rules::login_link(const request& req, std::string_view account_segment, reply& r) {
    r.status = 400;
    std::string account;
    if (!percent_decode(account_segment, account, false) || !is_account_id(account)) {
        r.status = 404;
        r.body =
            error_json("invalid_request_error", "resource_missing", "No such account: '" + account + "'", "account");
        return;
    }

    std::string_view content_type = req[http::field::content_type];
    content_type = trim(content_type.substr(0, content_type.find(';')));
    if (!beast::iequals(content_type, "application/x-www-form-urlencoded")) {
        r.body = error_json("invalid_request_error", {},
                            "Invalid request (check that your POST content type is "
                            "application/x-www-form-urlencoded). If you have any questions, we "
                            "can help at https://support.stripe.com/.");
        return;
    }

    std::string_view form = req.body();
    while (!form.empty()) {
        std::size_t amp = form.find('&');
        std::string_view pair = form.substr(0, amp);
        form = amp == std::string_view::npos ? std::string_view{} : form.substr(amp + 1);
        if (pair.empty()) continue;
        std::size_t eq = pair.find('=');
        std::string_view raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (!percent_decode(raw_value, scratch_, true) || !percent_decode(pair.substr(0, eq), scratch_, true)) {
            r.body = error_json("invalid_request_error", {},
                                "Invalid request: the body is not valid "
                                "application/x-www-form-urlencoded.");
            return;
        }
        if (!is_expand_parameter(scratch_)) {
            r.body = error_json("invalid_request_error", "parameter_unknown", "Received unknown parameter: " + scratch_,
                                scratch_);
            return;
        }
    }

    const std::string_view target = req.target();
    const std::string_view key = req["Idempotency-Key"];
    std::string fingerprint;
    bool replay = false; // r.body holds the stored 200 for this key
    if (!key.empty()) {
        if (key.size() > 255) {
            r.body = error_json("invalid_request_error", {},
                                "Keys for idempotent requests can only be up to 255 characters "
                                "long.");
            return;
        }
        fingerprint.reserve(req.method_string().size() + target.size() + req.body().size() + 2);
        fingerprint.append(req.method_string()).append(" ").append(target).append("\n");
        fingerprint.append(req.body());
        switch (idempotency_.find(key, fingerprint, r.body)) {
        case idempotency_store::match::unknown_key: break;
        case idempotency_store::match::same_request: replay = true; break;
        case idempotency_store::match::other_request:
            r.body = error_json("idempotency_error", {},
                                "Keys for idempotent requests can only be used with the same parameters "
                                "they were first used with. Try using a key other than '" +
                                    std::string(key) + "' if you meant to execute a different request.");
            return;
        }
    }

    // Scripted faults wait for a call that is not a replay; random ones hit any call.
    std::optional<fault> f;
    if (!replay) f = script_.take();
    if (!f) f = random_faults_.draw();

    // The stored answer for a replay; else a new link, remembered for its key.
    auto login_link_answer = [&] {
        r.status = 200;
        if (replay) {
            r.replayed = true;
        } else {
            login_link_body(r, account);
            if (!key.empty()) idempotency_.remember(key, std::move(fingerprint), r.body);
        }
        if (!key.empty()) {
            r.intact = true;
            r.delivery_key.assign(key);
        }
    };

    r.status = 200;
    if (!f) return login_link_answer();
    r.delay = f->delay;
    r.hang_for = f->hang_for;
    r.stray_separate = f->stray_in_separate_write;
    r.stray_without_key = f->stray_without_key;
    r.stray_delay = f->stray_delay;
    r.stray_before_next_answer = f->stray_before_next_answer;
    r.extra_headers = std::move(f->headers);
    for (const auto& [name, value] : r.extra_headers)
        if (beast::iequals(name, "Connection") && value.find("close") != std::string::npos) r.keep_alive = false;
    switch (f->what) {
    case fault::action::respond:
        if (f->status != 200 || !f->body.empty()) {
            r.status = f->status;
            r.body = f->body.empty() ? generic_error(f->status) : std::move(f->body);
            if (r.status == 200 && !key.empty()) {
                idempotency_.remember(key, std::move(fingerprint), r.body);
                r.intact = true;
                r.delivery_key.assign(key);
            }
            return;
        }
        break; // a normal login link, maybe late or with extra headers
    case fault::action::duplicate_response:
    case fault::action::trailing_garbage:
    case fault::action::unasked_answer: r.what = f->what; return login_link_answer();
    case fault::action::garbage_body: r.body = "<html>not json</html>"; return;
    case fault::action::oversized_body:
        r.what = f->what;
        r.oversized_bytes = f->oversized_bytes;
        return;
    case fault::action::truncated_body:
        r.what = f->what;
        if (!replay) login_link_body(r, account); // never stored: the client cannot have had it
        return;
    case fault::action::close_before_response:
    case fault::action::close_mid_headers:
    case fault::action::hang:
    case fault::action::reset: r.what = f->what; return;
    }
    login_link_answer();
}

void rules::login_link_body(reply& r, std::string_view account) {
    const std::string token = tokens_.make(account);
    r.body.assign(R"({"object":"login_link","created":)");
    append_number(r.body, static_cast<std::uint64_t>(std::time(nullptr)));
    r.body.append(R"(,"url":")")
        .append(settings_.base_url)
        .append("/express/")
        .append(account)
        .append("/")
        .append(token)
        .append("\"}");
}

} // namespace stripe_asio::testing::detail
