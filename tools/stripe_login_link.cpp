// stripe-login-link: make one Express Dashboard login link from the command line.
#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage = R"(usage: stripe-login-link ACCOUNT_ID [options]

Creates a single-use Express Dashboard login link for ACCOUNT_ID (acct_...) and prints its URL.

options:
  --base-url URL          API base (default $STRIPE_API_BASE or https://api.stripe.com)
  --ca-file PEM           CAs to trust instead of the system store (default $STRIPE_CA_FILE)
  --api-key KEY           secret key (default $STRIPE_API_KEY; prefer the variable: arguments
                          are visible to other users of the machine)
  --stripe-version V      Stripe-Version header (default: the version this release pins)
  --idempotency-key K     key sent on every attempt (default: a new UUIDv4)
  --max-retries N         network retries after the first attempt (default 2)
  --timeout SECONDS       deadline for the whole call, retries included (default: none; each
                          attempt is limited to 80 s)
  --json                  print the login_link as JSON instead of the bare URL
  -h, --help              this text

On success prints the URL (or JSON) and exits 0. On failure prints one line on stderr with the
error kind, HTTP status, Stripe type, code and message, and the request id, and exits 1
(2 for bad usage).
)";

int usage_error(std::string_view why) {
    std::cerr << "stripe-login-link: " << why << "\n" << usage;
    return 2;
}

bool parse_unsigned(std::string_view s, unsigned& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

} // namespace

int main(int argc, char** argv) {
    stripe_asio::config cfg = stripe_asio::config::from_env();
    stripe_asio::request_options options;
    std::string account;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= argc) return false;
            out = argv[++i];
            return true;
        };
        std::string v;
        if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            return 0;
        } else if (arg == "--json") {
            json = true;
        } else if (arg == "--base-url") {
            if (!value(cfg.base_url)) return usage_error("--base-url needs a value");
        } else if (arg == "--ca-file") {
            if (!value(cfg.ca_file)) return usage_error("--ca-file needs a value");
        } else if (arg == "--api-key") {
            if (!value(cfg.api_key)) return usage_error("--api-key needs a value");
        } else if (arg == "--stripe-version") {
            if (!value(cfg.stripe_version)) return usage_error("--stripe-version needs a value");
        } else if (arg == "--idempotency-key") {
            if (!value(v)) return usage_error("--idempotency-key needs a value");
            options.idempotency_key = v; // a key over 255 characters is refused by the call, not cut
        } else if (arg == "--max-retries") {
            unsigned n = 0;
            if (!value(v) || !parse_unsigned(v, n)) return usage_error("--max-retries needs a number");
            cfg.retry.max_retries = n;
        } else if (arg == "--timeout") {
            unsigned seconds = 0;
            if (!value(v) || !parse_unsigned(v, seconds) || seconds == 0)
                return usage_error("--timeout needs a positive number of seconds");
            cfg.call_timeout = std::chrono::seconds(seconds);
            cfg.attempt_timeout = std::min(cfg.attempt_timeout, cfg.call_timeout);
        } else if (!arg.empty() && arg[0] == '-') {
            return usage_error("unknown option " + std::string(arg));
        } else if (account.empty()) {
            account = arg;
        } else {
            return usage_error("only one ACCOUNT_ID");
        }
    }
    if (account.empty()) return usage_error("ACCOUNT_ID is required");

    boost::asio::io_context ioc;
    int status = 1;
    try {
        stripe_asio::client client(ioc, cfg);
        client.create_login_link(
            account, options,
            [&](stripe_asio::error_code ec, stripe_asio::diagnostics diag, stripe_asio::login_link link) {
                if (ec) {
                    std::cerr << "stripe-login-link: error: kind=" << stripe_asio::error_kind(ec) << " ("
                              << ec.message() << ")";
                    std::string details = diag.to_string();
                    if (!details.empty()) std::cerr << ' ' << details;
                    std::cerr << '\n';
                    return;
                }
                if (json) {
                    boost::json::value out = {{"object", link.object},
                                              {"created", link.created},
                                              {"url", link.url},
                                              {"request_id", link.meta.request_id.view()},
                                              {"idempotency_key", link.meta.idempotency_key.view()},
                                              {"attempts", link.meta.attempts},
                                              {"idempotent_replayed", link.meta.idempotent_replayed}};
                    std::cout << boost::json::serialize(out) << '\n';
                } else {
                    std::cout << link.url << '\n';
                }
                status = 0;
            });
        ioc.run();
    } catch (const stripe_asio::error_with_diagnostics& e) {
        std::cerr << "stripe-login-link: error: kind=" << stripe_asio::error_kind(e.code()) << " ("
                  << e.code().message() << ") " << e.get_diagnostics().to_string() << '\n';
        return 1;
    }
    return status;
}
