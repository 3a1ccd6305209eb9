// What a call sends, sans-io: the request bytes, the target of each endpoint (checked), and what
// the call takes from the caller's options (key, account header, deadline, retries).
#ifndef STRIPE_ASIO_IMPL_INTERNAL_REQUEST_RULES_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_REQUEST_RULES_HPP

#include <stripe_asio/impl/internal/client_state.hpp>

namespace stripe_asio::detail {

/// Writes this call's request into the connection's reusable buffer.
inline void write_request(const client_impl& c, const call_state& call, std::string& out) {
    request_parts parts;
    parts.method = method_name(call.method);
    parts.target = call.target.view();
    parts.body = call.body;
    parts.has_body = call.has_body;
    parts.idempotency_key = call.idempotency_key.view();
    parts.stripe_account = call.stripe_account.view();
    out.clear();
    append_request(out, c.fixed_headers, parts);
}

/// Checks the caller's options and takes from them what the call keeps: its key, the account
/// header, the deadline and the retry budget. The first problem found is refused at the first step.
inline void apply_options(const client_impl& c, call_state& call, const request_options* given) {
    const request_options none;
    const request_options& opts = given ? *given : none;
    auto refuse = [&call](errc e, const char* reason) {
        if (call.refusal) return;
        call.refused = e;
        call.refusal = reason;
    };
    if (opts.idempotency_key.truncated() ||
        (!opts.idempotency_key.empty() && !is_valid_idempotency_key(opts.idempotency_key)))
        refuse(errc::invalid_idempotency_key, "idempotency key must be 1 to 255 visible ASCII characters");
    if (opts.stripe_account.truncated() || (!opts.stripe_account.empty() && !is_valid_account_id(opts.stripe_account)))
        refuse(errc::invalid_request_options, "stripe_account must be acct_ followed by letters and digits");
    if (opts.attempt_timeout && opts.attempt_timeout->count() <= 0)
        refuse(errc::invalid_request_options, "attempt_timeout must be positive");
    if (opts.call_timeout && opts.call_timeout->count() < 0)
        refuse(errc::invalid_request_options, "call_timeout must not be negative");
    if (call.refusal) return; // refused: it sends nothing, so its diagnostics name no key
    if (call.wants_key) call.idempotency_key.assign(opts.idempotency_key.view());
    call.stripe_account.assign(opts.stripe_account.view());
    auto total = opts.call_timeout.value_or(c.cfg.call_timeout);
    call.machine.set_limits(total.count() > 0 ? clock_type::now() + total : clock_type::time_point::max(),
                            opts.attempt_timeout.value_or(c.cfg.attempt_timeout), c.cfg.retry,
                            opts.max_retries.value_or(c.cfg.retry.max_retries));
}

inline void fill_login_link(call_state& call, const account_id_arg& account, const request_options* options) {
    const client_impl& c = *call.client;
    if (is_valid_account_id(account.view())) {
        // A valid id is letters, digits and '_': nothing in it needs percent-encoding.
        call.target += c.url.prefix;
        call.target += "/v1/accounts/";
        call.target += account.view();
        call.target += "/login_links";
        call.endpoint = static_cast<std::uint16_t>(c.login_link_endpoint);
    } else {
        call.refused = errc::invalid_account_id;
        call.refusal = "account id must be acct_ followed by letters and digits, at most 255 characters";
    }
    apply_options(c, call, options);
}

inline void fill_request(call_state& call, http_method method, const std::string& path, const form_params& params,
                         const request_options* options) {
    const client_impl& c = *call.client;
    bool valid = path.size() > 4 && path.compare(0, 4, "/v1/") == 0;
    for (char ch : path)
        if (!(is_unreserved(ch) || ch == '/')) valid = false;
    // No empty, "." or ".." segments: the path must name exactly what it says.
    for (std::string_view bad : {"//", "/./", "/../"})
        if ((path + "/").find(bad) != std::string::npos) valid = false;
    if (!valid) {
        call.refused = errc::invalid_request_options;
        call.refusal = "path must start with /v1/ and hold only letters, digits and / - . _ ~";
    }
    std::string form = encode_form(params);
    call.target += c.url.prefix;
    call.target += path;
    switch (method) {
    case http_method::post:
        call.method = request_method::post;
        call.body = std::move(form);
        break;
    case http_method::get:
    case http_method::delete_:
        call.method = method == http_method::get ? request_method::get : request_method::delete_;
        call.has_body = false;
        call.wants_key = false;
        if (!form.empty()) {
            call.target += "?";
            call.target += form;
        }
        break;
    }
    apply_options(c, call, options);
}

} // namespace stripe_asio::detail

#endif
