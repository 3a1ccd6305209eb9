// fake_stripe's scripted faults and the generic call: a login-link call made through
// client.request(...) takes them like create_login_link does; other routes leave them be.
#include "integration/fixture.hpp"

using namespace test;
using stripe_asio::errc;

TEST_SUITE("integration") {

TEST_CASE("fake_stripe: scripted faults reach login-link calls made through client.request, not other routes") {
    fake_stripe server;
    asio::io_context ioc;
    stripe_asio::client client(ioc, config_for(server));
    server.script({fault::stripe_error(500, "api_error"), fault::stripe_error_should_retry(503, true, "api_error")});
    run(ioc, [](stripe_asio::client& c, fake_stripe& s) -> asio::awaitable<void> {
        // Named arguments: g++ 12 cannot compile a braced list inside a co_await expression.
        stripe_asio::form_params no_params;
        stripe_asio::request_options no_options;
        auto [ec, diag, res] = co_await c.request(stripe_asio::http_method::get, "/v1/nothing_here", no_params,
                                                  no_options, asio::as_tuple(asio::use_awaitable));
        CHECK(ec == errc::invalid_request);
        CHECK(diag.http_status == 404);
        CHECK(s.scripted_faults_injected() == 0);

        auto [ec2, diag2, res2] =
            co_await c.request(stripe_asio::http_method::post, "/v1/accounts/acct_1032D82eZvKYlo2C/login_links",
                               no_params, no_options, asio::as_tuple(asio::use_awaitable));
        REQUIRE_SUCCEEDED(ec2, diag2);
        CHECK(res2.body.at("object") == "login_link");
        CHECK(res2.meta.attempts == 3);
    }(client, server));
    CHECK(server.scripted_faults_injected() == 2);
    std::vector<unsigned> statuses;
    for (const auto& r : server.requests()) statuses.push_back(r.status);
    CHECK(statuses == std::vector<unsigned>{404, 500, 503, 200});
}

} // TEST_SUITE("integration")
