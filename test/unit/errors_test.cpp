// Errors as the caller sees them: the error category, diagnostics, error_with_diagnostics,
// config validation and from_env, and the with_diagnostics completion token adapter.
#include <doctest/doctest.h>

#include <stripe_asio/config.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/error_with_diagnostics.hpp>
#include <stripe_asio/with_diagnostics.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/system_executor.hpp>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

using namespace std::chrono_literals;
using stripe_asio::config;
using stripe_asio::diagnostics;
using stripe_asio::errc;
using stripe_asio::error_code;
using stripe_asio::error_kind;
using stripe_asio::error_with_diagnostics;

namespace {

constexpr errc all_errcs[] = {
    errc::invalid_account_id,
    errc::invalid_idempotency_key,
    errc::invalid_request_options,
    errc::missing_api_key,
    errc::invalid_api_key_format,
    errc::invalid_config,
    errc::invalid_request,
    errc::authentication,
    errc::card_error,
    errc::permission,
    errc::conflict,
    errc::rate_limit,
    errc::idempotency_error,
    errc::api_error,
    errc::malformed_response,
    errc::response_too_large,
    errc::connection_error,
    errc::tls_verification_failed,
    errc::attempt_timeout,
    errc::deadline_exceeded,
    errc::too_many_pending,
    errc::client_shut_down,
};

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// A recognisable key that must never show up in an error.
constexpr const char* secret_key = "sk_test_SECRET123";

config valid_config() {
    config cfg;
    cfg.api_key = secret_key;
    return cfg;
}

// Runs cfg.validate(), which must throw; returns the exception's code, detail and what().
struct validation_failure {
    error_code code;
    std::string detail;
    std::string what;
};

std::optional<validation_failure> validate_failure(const config& cfg) {
    try {
        cfg.validate();
    } catch (const error_with_diagnostics& e) {
        return validation_failure{e.code(), e.get_diagnostics().detail, e.what()};
    }
    return std::nullopt;
}

void check_invalid(const config& cfg, errc expected, std::string_view detail_mentions) {
    auto f = validate_failure(cfg);
    REQUIRE(f.has_value());
    INFO("what(): ", f->what);
    CHECK(f->code == expected);
    CHECK(contains(f->detail, detail_mentions));
    CHECK(contains(f->what, f->detail));
    CHECK_FALSE(contains(f->what, "SECRET123"));
    CHECK_FALSE(contains(f->detail, "SECRET123"));
}

// Sets or unsets environment variables for one scope, then puts the old values back.
class env_guard {
public:
    explicit env_guard(const char* name) : name_(name) {
        if (const char* v = std::getenv(name)) old_ = v;
    }
    env_guard(const env_guard&) = delete;
    env_guard& operator=(const env_guard&) = delete;
    ~env_guard() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    void set(const char* value) { REQUIRE(::setenv(name_, value, 1) == 0); }
    void unset() { REQUIRE(::unsetenv(name_) == 0); }

private:
    const char* name_;
    std::optional<std::string> old_;
};

struct no_inspection {
    template <class Handler>
    void operator()(const Handler&) const {}
};

// A trivial asynchronous operation with the library's completion signature: it calls the
// handler at once, inline, with the given arguments, after showing it to `inspect`.
template <class Token, class Inspect = no_inspection>
auto async_fake(error_code ec, diagnostics diag, int value, Token&& token, Inspect inspect = {}) {
    return boost::asio::async_initiate<Token, void(error_code, diagnostics, int)>(
        [inspect](auto handler, error_code e, diagnostics d, int v) mutable {
            inspect(handler);
            std::move(handler)(e, std::move(d), v);
        },
        token, ec, std::move(diag), value); // the token as an lvalue, as Asio operations pass it
}

diagnostics sample_diagnostics() {
    diagnostics d;
    d.http_status = 429;
    d.type = "invalid_request_error";
    d.code = "rate_limit";
    d.message = "Too many requests";
    d.request_id = "req_abc123";
    d.idempotency_key = "idem-1";
    d.attempts = 3;
    return d;
}

} // namespace

TEST_SUITE("unit") {

// ---- error category ----

TEST_CASE("errors: the category is named stripe_asio") {
    CHECK(std::string(stripe_asio::error_category().name()) == "stripe_asio");
    error_code ec = errc::rate_limit;
    CHECK(ec.category() == stripe_asio::error_category());
    CHECK(ec.value() == static_cast<int>(errc::rate_limit));
    CHECK(&make_error_code(errc::api_error).category() == &stripe_asio::error_category());
}

TEST_CASE("errors: every errc has its own message and its own kind") {
    std::set<std::string> kinds, messages;
    for (errc e : all_errcs) {
        error_code ec = e;
        INFO("errc value ", static_cast<int>(e));
        CHECK(ec); // no errc is success
        std::string message = ec.message();
        std::string kind = error_kind(ec);
        CHECK_FALSE(message.empty());
        CHECK(message != "unknown stripe_asio error");
        CHECK(kind != "unknown");
        CHECK(kind != "success");
        CHECK(kind != "system_error");
        CHECK(kinds.insert(kind).second);
        CHECK(messages.insert(message).second);
        char buffer[256];
        CHECK(std::string(stripe_asio::error_category().message(ec.value(), buffer, sizeof buffer)) == message);
    }
    CHECK(kinds.size() == std::size(all_errcs));
}

TEST_CASE("errors: kinds are the enumerator names") {
    CHECK(std::string(error_kind(errc::invalid_account_id)) == "invalid_account_id");
    CHECK(std::string(error_kind(errc::rate_limit)) == "rate_limit");
    CHECK(std::string(error_kind(errc::connection_error)) == "connection_error");
    CHECK(std::string(error_kind(errc::tls_verification_failed)) == "tls_verification_failed");
    CHECK(std::string(error_kind(errc::client_shut_down)) == "client_shut_down");
}

TEST_CASE("errors: error_kind of success, cancellation and foreign errors") {
    CHECK(std::string(error_kind(error_code{})) == "success");
    CHECK(std::string(error_kind(boost::asio::error::operation_aborted)) == "cancelled");
    CHECK(std::string(error_kind(boost::asio::error::connection_reset)) == "system_error");
    CHECK(std::string(error_kind(error_code(999, stripe_asio::error_category()))) == "unknown");
}

TEST_CASE("errors: the message buffer overload truncates safely") {
    char buffer[8];
    const char* m = stripe_asio::error_category().message(static_cast<int>(errc::rate_limit), buffer, sizeof buffer);
    CHECK(std::string(m) == "Stripe ");
}

// ---- diagnostics ----

TEST_CASE("diagnostics::to_string: every field, in order") {
    diagnostics d;
    d.http_status = 402;
    d.type = "card_error";
    d.code = "card_declined";
    d.decline_code = "insufficient_funds";
    d.param = "amount";
    d.request_id = "req_1";
    d.attempts = 3;
    d.detail = "after 3 attempts";
    d.message = "Your card has insufficient funds.";
    d.doc_url = "https://stripe.com/docs"; // not in the line
    d.idempotency_key = "idem-not-in-the-line"; // not in the line
    CHECK(d.to_string() == "status=402 type=card_error code=card_declined decline_code=insufficient_funds "
                           "param=amount request_id=req_1 attempts=3 detail=after 3 attempts "
                           "message=\"Your card has insufficient funds.\"");
}

TEST_CASE("diagnostics::to_string: empty fields are left out") {
    CHECK(diagnostics{}.to_string() == "");
    diagnostics d;
    d.detail = "connection refused";
    CHECK(d.to_string() == "detail=connection refused");
    d.attempts = 1;
    CHECK(d.to_string() == "attempts=1 detail=connection refused");
    diagnostics m;
    m.message = "boom";
    CHECK(m.to_string() == "message=\"boom\"");
    diagnostics s;
    s.http_status = 500;
    CHECK(s.to_string() == "status=500");
}

// ---- error_with_diagnostics ----

TEST_CASE("error_with_diagnostics: carries the code and the diagnostics") {
    error_with_diagnostics e(errc::rate_limit, sample_diagnostics());
    CHECK(e.code() == errc::rate_limit);
    CHECK(e.get_diagnostics().http_status == 429);
    CHECK(e.get_diagnostics().request_id == "req_abc123");
    CHECK(e.get_diagnostics().idempotency_key == "idem-1");
    CHECK(e.get_diagnostics().attempts == 3);
    std::string what = e.what();
    INFO("what(): ", what);
    CHECK(contains(what, "status=429"));
    CHECK(contains(what, "type=invalid_request_error"));
    CHECK(contains(what, "request_id=req_abc123"));
    CHECK(contains(what, "Stripe rate limit reached"));
}

TEST_CASE("error_with_diagnostics: is a boost::system::system_error") {
    try {
        throw error_with_diagnostics(errc::api_error, {});
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == errc::api_error);
    }
}

// ---- config::validate ----

TEST_CASE("config::validate: a key and the defaults are valid") {
    CHECK_NOTHROW(valid_config().validate());
    config cfg = valid_config();
    cfg.base_url = "https://[::1]:12111/prefix";
    cfg.call_timeout = 1ms;
    cfg.retry.max_retries = 0;
    CHECK_NOTHROW(cfg.validate());
}

TEST_CASE("config::validate: an empty key is missing_api_key") {
    config cfg;
    check_invalid(cfg, errc::missing_api_key, "api_key");
}

TEST_CASE("config::validate: keys with whitespace, control or non-ASCII characters") {
    for (const char* key : {"sk_test_SECRET123 x", "sk_test_SECRET123\n", "sk_test_SECRET123\r\nX: y",
                            "sk_test_SECRET123\t", "sk_test_SECRET123\xC3\xA9"}) {
        config cfg = valid_config();
        cfg.api_key = key;
        INFO("key length ", cfg.api_key.size());
        check_invalid(cfg, errc::invalid_api_key_format, "api_key");
    }
}

TEST_CASE("config::validate: a bad base_url is invalid_config") {
    for (const char* url : {"http://api.stripe.com", "https://", "https://sk_test_SECRET123@api.stripe.com",
                            "https://api.stripe.com:0", "api.stripe.com", ""}) {
        config cfg = valid_config();
        cfg.base_url = url;
        INFO("base_url: ", url);
        check_invalid(cfg, errc::invalid_config, "base_url");
    }
}

TEST_CASE("config::validate: other bad fields are invalid_config") {
    {
        config cfg = valid_config();
        cfg.max_connections = 0;
        check_invalid(cfg, errc::invalid_config, "max_connections");
    }
    {
        config cfg = valid_config();
        cfg.max_connections = 4;
        cfg.min_idle = 5;
        check_invalid(cfg, errc::invalid_config, "min_idle");
        cfg.min_idle = 4;
        CHECK_NOTHROW(cfg.validate());
    }
    {
        config cfg = valid_config();
        cfg.attempt_timeout = 0ms;
        check_invalid(cfg, errc::invalid_config, "attempt_timeout");
    }
    {
        config cfg = valid_config();
        cfg.attempt_timeout = -1ms;
        check_invalid(cfg, errc::invalid_config, "attempt_timeout");
    }
    {
        config cfg = valid_config();
        cfg.call_timeout = -1ms;
        check_invalid(cfg, errc::invalid_config, "call_timeout");
    }
    {
        config cfg = valid_config();
        cfg.stripe_version = "";
        check_invalid(cfg, errc::invalid_config, "stripe_version");
    }
    {
        config cfg = valid_config();
        cfg.stripe_version = "2026-10-28\r\nX-Injected: 1";
        check_invalid(cfg, errc::invalid_config, "stripe_version");
    }
    {
        config cfg = valid_config();
        cfg.max_response_bytes = 0;
        check_invalid(cfg, errc::invalid_config, "max_response_bytes");
    }
    {
        config cfg = valid_config();
        cfg.retry.initial_delay = -1ms;
        check_invalid(cfg, errc::invalid_config, "retry");
    }
    {
        config cfg = valid_config();
        cfg.retry.max_delay = -1ms;
        check_invalid(cfg, errc::invalid_config, "retry");
    }
}

// ---- config::from_env ----

TEST_CASE("config::from_env: reads STRIPE_API_KEY, STRIPE_API_BASE and STRIPE_CA_FILE") {
    env_guard key("STRIPE_API_KEY"), base("STRIPE_API_BASE"), ca("STRIPE_CA_FILE");
    key.set("sk_test_fromenv");
    base.set("https://127.0.0.1:12111");
    ca.set("/tmp/ca.pem");
    config cfg = config::from_env();
    CHECK(cfg.api_key == "sk_test_fromenv");
    CHECK(cfg.base_url == "https://127.0.0.1:12111");
    CHECK(cfg.ca_file == "/tmp/ca.pem");
    CHECK(cfg.stripe_version == stripe_asio::default_stripe_version);
    CHECK_NOTHROW(cfg.validate());
}

TEST_CASE("config::from_env: unset or empty variables keep the defaults") {
    env_guard key("STRIPE_API_KEY"), base("STRIPE_API_BASE"), ca("STRIPE_CA_FILE");
    key.unset();
    base.unset();
    ca.unset();
    config cfg = config::from_env();
    CHECK(cfg.api_key.empty());
    CHECK(cfg.base_url == "https://api.stripe.com");
    CHECK(cfg.ca_file.empty());

    base.set("");
    ca.set("");
    cfg = config::from_env();
    CHECK(cfg.base_url == "https://api.stripe.com");
    CHECK(cfg.ca_file.empty());
}

// ---- with_diagnostics ----

TEST_CASE("with_diagnostics: an error arrives as an exception_ptr to error_with_diagnostics") {
    bool called = false;
    async_fake(errc::rate_limit, sample_diagnostics(), 42,
               stripe_asio::with_diagnostics([&](std::exception_ptr ep, int value) {
                   called = true;
                   REQUIRE(ep);
                   CHECK(value == 0); // no value on failure
                   try {
                       std::rethrow_exception(ep);
                   } catch (const error_with_diagnostics& e) {
                       CHECK(e.code() == errc::rate_limit);
                       CHECK(e.get_diagnostics().http_status == 429);
                       CHECK(e.get_diagnostics().request_id == "req_abc123");
                       CHECK(e.get_diagnostics().message == "Too many requests");
                       CHECK(contains(e.what(), "request_id=req_abc123"));
                   } catch (...) {
                       FAIL("the exception is not an error_with_diagnostics");
                   }
               }));
    CHECK(called);
}

TEST_CASE("with_diagnostics: success gives a null exception_ptr and the value") {
    bool called = false;
    async_fake(error_code{}, diagnostics{}, 42, stripe_asio::with_diagnostics([&](std::exception_ptr ep, int value) {
                   called = true;
                   CHECK_FALSE(ep);
                   CHECK(value == 42);
               }));
    CHECK(called);
}

TEST_CASE("with_diagnostics: cancellation becomes an exception too") {
    std::exception_ptr got;
    async_fake(boost::asio::error::operation_aborted, diagnostics{}, 1,
               stripe_asio::with_diagnostics([&](std::exception_ptr ep, int) { got = ep; }));
    REQUIRE(got);
    try {
        std::rethrow_exception(got);
    } catch (const error_with_diagnostics& e) {
        CHECK(e.code() == boost::asio::error::operation_aborted);
    }
}

TEST_CASE("with_diagnostics: composes with deferred (the default token)") {
    auto op = async_fake(error_code{}, diagnostics{}, 7, stripe_asio::with_diagnostics(boost::asio::deferred));
    int got = -1;
    bool had_error = true;
    std::move(op)([&](std::exception_ptr ep, int value) {
        had_error = static_cast<bool>(ep);
        got = value;
    });
    CHECK_FALSE(had_error);
    CHECK(got == 7);
}

TEST_CASE("with_diagnostics: the adapted handler keeps the wrapped handler's associated executor") {
    boost::asio::io_context ioc; // never run: only its executor's identity matters
    auto ex = ioc.get_executor();
    bool inspected = false;
    bool called = false;
    async_fake(
        error_code{}, diagnostics{}, 1,
        stripe_asio::with_diagnostics(boost::asio::bind_executor(ex, [&](std::exception_ptr, int) { called = true; })),
        [&](const auto& handler) {
            inspected = true;
            CHECK(boost::asio::get_associated_executor(handler) == ex);
            CHECK(boost::asio::get_associated_executor(handler, boost::asio::system_executor()) == ex);
        });
    CHECK(inspected);
    CHECK(called);
}

TEST_CASE("with_diagnostics: without a bound executor the default candidate is used") {
    boost::asio::io_context ioc;
    auto ex = ioc.get_executor();
    bool inspected = false;
    async_fake(error_code{}, diagnostics{}, 1, stripe_asio::with_diagnostics([](std::exception_ptr, int) {}),
               [&](const auto& handler) {
                   inspected = true;
                   CHECK(boost::asio::get_associated_executor(handler) == boost::asio::system_executor());
                   CHECK(boost::asio::get_associated_executor(handler, ex) == ex);
               });
    CHECK(inspected);
}

} // TEST_SUITE("unit")
