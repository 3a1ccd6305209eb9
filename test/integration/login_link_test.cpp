// create_login_link end to end against the fake Stripe server over real TLS.
#include "integration/fixture.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>

#include <regex>
#include <thread>

using namespace test;
using stripe_asio::errc;

TEST_SUITE("integration") {

TEST_CASE("a login link is made and the request is exactly what the SDKs send") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    auto [ec, diag, link] = make_link(ioc, client);
    REQUIRE_SUCCEEDED(ec, diag);
    CHECK(link.object == "login_link");
    CHECK(link.created > 1'700'000'000);
    CHECK(link.url.rfind(server.base_url() + "/express/acct_1032D82eZvKYlo2C/", 0) == 0);
    CHECK(link.meta.http_status == 200);
    CHECK(link.meta.attempts == 1);
    CHECK_FALSE(link.meta.idempotent_replayed);

    auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    const auto& r = requests[0];
    CHECK(r.method == "POST");
    CHECK(r.target == "/v1/accounts/acct_1032D82eZvKYlo2C/login_links");
    CHECK(r.body.empty());
    CHECK(r.header("Authorization") == "Bearer " + server.api_key());
    CHECK(r.header("Content-Type") == "application/x-www-form-urlencoded");
    CHECK(r.header("Content-Length") == "0");
    CHECK(r.header("Stripe-Version") == stripe_asio::default_stripe_version);
    CHECK(r.header("User-Agent") == std::string("Stripe/v1 CppAsioBindings/" STRIPE_ASIO_VERSION_STRING));
    CHECK(r.header("Stripe-Account").empty());
    auto ua = boost::json::parse(r.header("X-Stripe-Client-User-Agent"));
    CHECK(ua.at("lang") == "cpp");
    CHECK(ua.at("bindings_version") == stripe_asio::version);
    static const std::regex uuid_v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
    CHECK(std::regex_match(r.header("Idempotency-Key"), uuid_v4));
    CHECK(link.meta.idempotency_key.view() == r.header("Idempotency-Key"));
    CHECK(link.meta.request_id.view().substr(0, 4) == "req_");
}

TEST_CASE("Stripe-Account and a caller's idempotency key are sent; a replay is reported") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    stripe_asio::request_options options;
    options.stripe_account = "acct_platformChild1";
    options.idempotency_key = "order-42-dashboard";
    auto [ec, diag, first] = make_link(ioc, client, "acct_1032D82eZvKYlo2C", options);
    REQUIRE_SUCCEEDED(ec, diag);
    auto [ec2, diag2, second] = make_link(ioc, client, "acct_1032D82eZvKYlo2C", options);
    REQUIRE_SUCCEEDED(ec2, diag2);
    CHECK(second.meta.idempotent_replayed);
    CHECK(second.url == first.url);
    auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].body.empty());
    CHECK(requests[0].header("Content-Length") == "0");
    CHECK(requests[0].header("Stripe-Account") == "acct_platformChild1");
    CHECK(requests[0].header("Idempotency-Key") == "order-42-dashboard");
    CHECK(requests[1].header("Idempotency-Key") == "order-42-dashboard");

    // The same key for another request is refused by Stripe, and not retried.
    auto [ec3, diag3, link3] = make_link(ioc, client, "acct_1032D82eZvKYlo2D", options);
    CHECK(ec3 == errc::idempotency_error);
    CHECK(diag3.http_status == 400);
    CHECK(diag3.type == "idempotency_error");
    CHECK(diag3.attempts == 1);
    CHECK(link3.url.empty());
}

TEST_CASE("each Stripe error status maps to its error, with Stripe's fields in the diagnostics") {
    struct row {
        unsigned status;
        const char* type;
        const char* code;
        errc expected;
    };
    const row rows[] = {
        {400, "invalid_request_error", "parameter_missing", errc::invalid_request},
        {402, "card_error", "card_declined", errc::card_error},
        {403, "invalid_request_error", "", errc::permission},
        {404, "invalid_request_error", "resource_missing", errc::invalid_request},
        {409, "invalid_request_error", "lock_timeout", errc::conflict},
        {429, "invalid_request_error", "rate_limit", errc::rate_limit},
        {500, "api_error", "", errc::api_error},
        {400, "idempotency_error", "", errc::idempotency_error},
    };
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.max_retries = 0;
    stripe_asio::client client(ioc, cfg);
    for (const auto& r : rows) {
        CAPTURE(r.status);
        server.push(fault::stripe_error(r.status, r.type, r.code, "Scripted failure."));
        auto [ec, diag, link] = make_link(ioc, client);
        CHECK(ec == r.expected);
        CHECK(diag.http_status == r.status);
        CHECK(diag.type == r.type);
        CHECK(diag.code == r.code);
        CHECK(diag.message == "Scripted failure.");
        CHECK(diag.request_id.substr(0, 4) == "req_");
        CHECK(diag.idempotency_key.size() == 36);
        CHECK(link.url.empty());
    }
}

TEST_CASE("a wrong API key is an authentication error and the key never appears in errors") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.api_key = "sk_test_not_the_right_one_9876";
    stripe_asio::client client(ioc, cfg);
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK(ec == errc::authentication);
    CHECK(diag.http_status == 401);
    CHECK(diag.attempts == 1);
    CHECK(diag.to_string().find(cfg.api_key) == std::string::npos);

    // Even when a server echoes the key back, it is redacted.
    cfg.api_key = server.api_key();
    stripe_asio::client echoing(ioc, cfg);
    server.push(fault::stripe_error(400, "invalid_request_error", "", "bad key " + server.api_key() + " used"));
    auto [ec2, diag2, link2] = make_link(ioc, echoing);
    CHECK(ec2 == errc::invalid_request);
    CHECK(diag2.message.find(server.api_key()) == std::string::npos);
    CHECK(diag2.message.find("[redacted]") != std::string::npos);
}

TEST_CASE("a 200 that is not a login link is an error, never a half-filled result") {
    fake_stripe server;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_response_bytes = 64 * 1024;
    stripe_asio::client client(ioc, cfg);

    server.push(fault::with(fault::action::garbage_body));
    auto [ec1, diag1, link1] = make_link(ioc, client);
    CHECK(ec1 == errc::malformed_response);
    CHECK(link1.url.empty());

    fault missing_url;
    missing_url.body = R"({"object":"login_link","created":1495580507})";
    server.push(missing_url);
    auto [ec2, diag2, link2] = make_link(ioc, client);
    CHECK(ec2 == errc::malformed_response);
    CHECK(diag2.detail.find("url") != std::string::npos);

    fault wrong_object;
    wrong_object.body = R"({"object":"account","created":1495580507,"url":"https://x"})";
    server.push(wrong_object);
    auto [ec3, diag3, link3] = make_link(ioc, client);
    CHECK(ec3 == errc::malformed_response);

    fault big = fault::with(fault::action::oversized_body);
    big.oversized_bytes = 256 * 1024;
    server.push(big);
    auto [ec4, diag4, link4] = make_link(ioc, client);
    CHECK(ec4 == errc::response_too_large);
    CHECK(diag4.attempts == 1); // a too-large answer is not retried

    // The client still works afterwards.
    auto [ec5, diag5, link5] = make_link(ioc, client);
    CHECK_SUCCEEDED(ec5, diag5);
}

TEST_CASE("bad input fails before anything is sent") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    for (std::string bad : {std::string(), std::string("acct_"), std::string("acct_12/../x"), std::string("acct_ab cd"),
                            std::string("cus_123"), std::string("acct_") + std::string(251, 'a')}) {
        CAPTURE(bad);
        auto [ec, diag, link] = make_link(ioc, client, bad);
        CHECK(ec == errc::invalid_account_id);
        CHECK(diag.attempts == 0);
    }
    stripe_asio::request_options long_key;
    long_key.idempotency_key = std::string(256, 'k');
    CHECK(std::get<0>(make_link(ioc, client, "acct_123", long_key)) == errc::invalid_idempotency_key);
    stripe_asio::request_options newline_key;
    newline_key.idempotency_key = "abc\r\nX-Injected: 1";
    CHECK(std::get<0>(make_link(ioc, client, "acct_123", newline_key)) == errc::invalid_idempotency_key);
    stripe_asio::request_options bad_account_header;
    bad_account_header.stripe_account = "acct_1\r\nX: y";
    CHECK(std::get<0>(make_link(ioc, client, "acct_123", bad_account_header)) == errc::invalid_request_options);
    CHECK(server.request_count() == 0);

    auto cfg = config_for(server);
    cfg.api_key = "";
    CHECK_THROWS_AS(stripe_asio::client(ioc, cfg), stripe_asio::error_with_diagnostics);
    cfg.api_key = "sk_test_with space";
    try {
        stripe_asio::client bad(ioc, cfg);
        FAIL("a key with a space was accepted");
    } catch (const stripe_asio::error_with_diagnostics& e) {
        CHECK(e.code() == errc::invalid_api_key_format);
        CHECK(std::string(e.what()).find("with space") == std::string::npos);
    }
}

TEST_CASE("a server whose certificate our CA did not sign is refused, and not retried") {
    fake_stripe server;
    fake_stripe other;
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.ca_pem = other.ca_pem();
    stripe_asio::client client(ioc, cfg);
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK(ec == errc::tls_verification_failed);
    CHECK(diag.attempts == 1);
    CHECK(diag.detail.find("certificate") != std::string::npos);
    CHECK(server.request_count() == 0);
}

TEST_CASE("the host name is verified: a certificate for other names is refused") {
    fake_stripe::options opts;
    opts.certificate_names = {"api.example.test", "10.9.8.7"}; // not the 127.0.0.1 we dial
    fake_stripe server(opts);
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    auto [ec, diag, link] = make_link(ioc, client);
    CHECK(ec == errc::tls_verification_failed);
    CHECK(diag.detail.find("mismatch") != std::string::npos);
    CHECK(diag.attempts == 1);
    CHECK(server.request_count() == 0);

    SUBCASE("and a name the certificate lists passes") {
        fake_stripe::options named;
        named.certificate_names = {"localhost"};
        fake_stripe good(named);
        auto cfg = config_for(good);
        cfg.base_url = "https://localhost:" + std::to_string(good.port());
        stripe_asio::client by_name(ioc, cfg);
        auto [ec2, diag2, link2] = make_link(ioc, by_name);
        CHECK_SUCCEEDED(ec2, diag2);
    }
}

TEST_CASE("keep-alive: sequential calls share one connection") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    for (int i = 0; i < 5; ++i) {
        auto [ec, diag, link] = make_link(ioc, client);
        REQUIRE_SUCCEEDED(ec, diag);
    }
    CHECK(server.connections_accepted() == 1);
    auto stats = client.stats();
    CHECK(stats.connections_opened == 1);
    CHECK(stats.connection_reuses == 4);
    CHECK(stats.calls_succeeded == 5);
    CHECK(stats.tls_full_handshakes == 1);
}

TEST_CASE("concurrent calls share at most max_connections connections") {
    fake_stripe::options opts;
    opts.record_requests = false;
    fake_stripe server(opts);
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections = 4;
    stripe_asio::client client(ioc, cfg);
    int ok = 0, failed = 0;
    for (int i = 0; i < 200; ++i) {
        client.create_login_link("acct_1032D82eZvKYlo2C",
                                 [&](stripe_asio::error_code ec, stripe_asio::diagnostics,
                                     stripe_asio::login_link link) { (!ec && !link.url.empty() ? ok : failed)++; });
    }
    ioc.run();
    CHECK(ok == 200);
    CHECK(failed == 0);
    CHECK(server.connections_accepted() <= 4);
    CHECK(server.max_connections_open() <= 4);
    CHECK(server.request_count() == 200);
    CHECK(client.stats().connections_opened <= 4);
}

TEST_CASE("every completion token style works") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));

    SUBCASE("default token: co_await returns the link, or throws error_with_diagnostics") {
        run(ioc, [](stripe_asio::client& c) -> asio::awaitable<void> {
            stripe_asio::login_link link = co_await c.create_login_link("acct_1032D82eZvKYlo2C");
            CHECK(!link.url.empty());
            try {
                co_await c.create_login_link("bogus");
                FAIL("no exception");
            } catch (const stripe_asio::error_with_diagnostics& e) {
                CHECK(e.code() == errc::invalid_account_id);
            }
        }(client));
    }
    SUBCASE("deferred operations can be stored and launched later") {
        auto op = client.create_login_link("acct_1032D82eZvKYlo2C", asio::deferred);
        CHECK(server.request_count() == 0);
        bool done = false;
        std::move(op)([&](stripe_asio::error_code ec, stripe_asio::diagnostics, stripe_asio::login_link link) {
            done = !ec && !link.url.empty();
        });
        ioc.run();
        CHECK(done);
    }
    SUBCASE("use_awaitable gives a tuple of diagnostics and link") {
        run(ioc, [](stripe_asio::client& c) -> asio::awaitable<void> {
            auto [diag, link] = co_await c.create_login_link("acct_1032D82eZvKYlo2C", asio::use_awaitable);
            CHECK(!link.url.empty());
            CHECK(diag.http_status == 0);
        }(client));
    }
    SUBCASE("use_future from another thread") {
        auto work = asio::make_work_guard(ioc);
        std::thread t([&] { ioc.run(); });
        auto fut = client.create_login_link("acct_1032D82eZvKYlo2C", stripe_asio::with_diagnostics(asio::use_future));
        CHECK(!fut.get().url.empty());
        auto bad = client.create_login_link("nope", stripe_asio::with_diagnostics(asio::use_future));
        CHECK_THROWS_AS(bad.get(), stripe_asio::error_with_diagnostics);
        work.reset();
        t.join();
    }
    SUBCASE("the handler runs on its bound executor") {
        auto strand = asio::make_strand(ioc);
        bool on_strand = false;
        client.create_login_link(
            "acct_1032D82eZvKYlo2C",
            asio::bind_executor(strand, [&](stripe_asio::error_code, stripe_asio::diagnostics,
                                            stripe_asio::login_link) { on_strand = strand.running_in_this_thread(); }));
        ioc.run();
        CHECK(on_strand);
    }
}

// g++ 12 destroys the members of an aggregate temporary inside a co_await expression twice.
// request_options has nothing to destroy, so the form users write first is safe; with
// std::string members this case was a double free under AddressSanitizer.
TEST_CASE("options written as a temporary inside co_await arrive whole, with every token") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    run(ioc, [](stripe_asio::client& c) -> asio::awaitable<void> {
        auto [ec, diag, link] = co_await c.create_login_link(
            "acct_1032D82eZvKYlo2C",
            stripe_asio::request_options{.idempotency_key = "a-caller-key-long-enough-to-need-the-heap-0001",
                                         .stripe_account = "acct_temporaryChildAcct1",
                                         .max_retries = 1,
                                         .call_timeout = std::chrono::seconds(30)},
            asio::as_tuple(asio::use_awaitable));
        REQUIRE_SUCCEEDED(ec, diag);
        CHECK(link.meta.idempotency_key == "a-caller-key-long-enough-to-need-the-heap-0001");

        // The default token (it throws), and a key made from a std::string temporary.
        auto second = co_await c.create_login_link(
            std::string("acct_1032D82eZvKYlo2D"),
            stripe_asio::request_options{.idempotency_key =
                                             std::string("a-second-key-from-a-std-string-temporary-02")});
        CHECK(second.meta.idempotency_key == "a-second-key-from-a-std-string-temporary-02");

        auto [ec3, diag3, res] = co_await c.request(
            stripe_asio::http_method::post, std::string("/v1/accounts/acct_1032D82eZvKYlo2E/login_links"),
            stripe_asio::form_params(), stripe_asio::request_options{.idempotency_key = "a-third-key-for-request-03"},
            asio::as_tuple(asio::use_awaitable));
        REQUIRE_SUCCEEDED(ec3, diag3);
        CHECK(res.meta.idempotency_key == "a-third-key-for-request-03");

        // A key too long to keep is refused, never sent cut short.
        auto [ec4, diag4, link4] = co_await c.create_login_link(
            "acct_1032D82eZvKYlo2C", stripe_asio::request_options{.idempotency_key = std::string(256, 'k')},
            asio::as_tuple(asio::use_awaitable));
        CHECK(ec4 == errc::invalid_idempotency_key);
        CHECK(diag4.attempts == 0);
        CHECK(diag4.idempotency_key.empty()); // nothing was sent: no key to look up

        // A refused call names no key either, even one the caller gave.
        auto [ec5, diag5, link5] = co_await c.create_login_link(
            "not-an-account", stripe_asio::request_options{.idempotency_key = "a-key-never-sent"},
            asio::as_tuple(asio::use_awaitable));
        CHECK(ec5 == errc::invalid_account_id);
        CHECK(diag5.idempotency_key.empty());
    }(client));
    auto requests = server.requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].header("Idempotency-Key") == "a-caller-key-long-enough-to-need-the-heap-0001");
    CHECK(requests[0].header("Stripe-Account") == "acct_temporaryChildAcct1");
    CHECK(requests[1].header("Idempotency-Key") == "a-second-key-from-a-std-string-temporary-02");
    CHECK(requests[1].header("Stripe-Account").empty());
}

TEST_CASE("a moved-from client is not valid, and its calls complete with client_shut_down") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client original(ioc, config_for(server));
    stripe_asio::client moved(std::move(original));
    CHECK(moved.valid());
    CHECK_FALSE(original.valid()); // NOLINT(bugprone-use-after-move): what is under test
    CHECK_FALSE(original.get_executor());
    CHECK(original.stats().calls_started == 0);
    std::vector<stripe_asio::error_code> results;
    auto record = asio::bind_executor(
        ioc, [&](stripe_asio::error_code ec, stripe_asio::diagnostics diag, stripe_asio::login_link link) {
            CHECK(diag.detail == "the client was moved from");
            CHECK(link.url.empty());
            results.push_back(ec);
        });
    original.create_login_link("acct_1032D82eZvKYlo2C", record);
    stripe_asio::form_params none;
    original.request(stripe_asio::http_method::get, "/v1/accounts", none, stripe_asio::request_options{},
                     asio::bind_executor(ioc, [&](stripe_asio::error_code ec, stripe_asio::diagnostics,
                                                  stripe_asio::json_response) { results.push_back(ec); }));
    CHECK(results.empty()); // never inside the initiating function
    ioc.run();
    REQUIRE(results.size() == 2);
    CHECK(results[0] == errc::client_shut_down);
    CHECK(results[1] == errc::client_shut_down);
    CHECK(server.request_count() == 0);
    auto [ec, diag, link] = make_link(ioc, moved);
    CHECK_SUCCEEDED(ec, diag);
}

TEST_CASE("the generic request reaches other endpoints through the same machinery") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    run(ioc, [](stripe_asio::client& c) -> asio::awaitable<void> {
        // Named arguments: g++ 12 cannot compile a braced list inside a co_await expression.
        stripe_asio::form_params no_params;
        stripe_asio::request_options no_options;
        auto [ec, diag, res] = co_await c.request(stripe_asio::http_method::post, "/v1/accounts/acct_9/login_links",
                                                  no_params, no_options, asio::as_tuple(asio::use_awaitable));
        CHECK_SUCCEEDED(ec, diag);
        CHECK(res.body.at("object") == "login_link");
        auto [ec2, diag2, res2] = co_await c.request(stripe_asio::http_method::get, "/v1/nothing_here", no_params,
                                                     no_options, asio::as_tuple(asio::use_awaitable));
        CHECK(ec2 == errc::invalid_request);
        CHECK(diag2.http_status == 404);
        auto [ec3, diag3, res3] = co_await c.request(stripe_asio::http_method::get, "/v1/../etc", no_params, no_options,
                                                     asio::as_tuple(asio::use_awaitable));
        CHECK(ec3 == errc::invalid_request_options);
    }(client));
}

} // TEST_SUITE("integration")
