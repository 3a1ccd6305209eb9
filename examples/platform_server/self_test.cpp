// platform_server --self-test: a Beast client, on the server's own io_context, plays a browser
// against it (the server keeps serving while the checks run, which is itself part of the test)
// and checks the rules of the dashboard click. The embedded fake Stripe server scripts failures.
#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using stripe_asio::testing::fault;
using namespace std::chrono_literals;

asio::awaitable<bool> self_test(unsigned short port, stripe_asio::testing::fake_stripe& fake,
                                const std::ostringstream& log);

namespace {

using response = http::response<http::string_body>;

// One request on a fresh connection. String arguments are references to the caller's named
// variables (g++ 12 mishandles class temporaries inside co_await expressions).
asio::awaitable<response> send(unsigned short port, http::verb verb, std::string_view target, const std::string& sid,
                               const std::string& form) {
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    stream.expires_after(15s);
    const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
    co_await stream.async_connect(server, asio::use_awaitable);
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!sid.empty()) req.set(http::field::cookie, "theme=dark; sid=" + sid);
    if (verb == http::verb::post) {
        req.set(http::field::content_type, "application/x-www-form-urlencoded");
        req.body() = form;
    }
    req.prepare_payload();
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    response res;
    co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    co_return res;
}

// The text after `marker` up to the next `end`, or empty.
std::string between(std::string_view text, std::string_view marker, char end) {
    const auto at = text.find(marker);
    if (at == text.npos) return {};
    const auto from = at + marker.size();
    return std::string(text.substr(from, text.find(end, from) - from));
}

std::uint64_t counter(const response& debug, const char* name) {
    return boost::json::parse(debug.body()).at(name).to_number<std::uint64_t>();
}

} // namespace

asio::awaitable<bool> self_test(unsigned short port, stripe_asio::testing::fake_stripe& fake,
                                const std::ostringstream& log) {
    int passed = 0, failed = 0;
    auto check = [&](bool ok, std::string_view what) {
        (ok ? passed : failed)++;
        std::cout << (ok ? "ok   " : "FAIL ") << what << std::endl;
    };
    const std::string none, alice = "user=alice", bob = "user=bob", nobody = "user=mallory";
    const std::string alice_account = fake.base_url() + "/express/acct_1AliceExpress1/";
    asio::steady_timer timer(co_await asio::this_coro::executor);

    response r = co_await send(port, http::verb::get, "/", none, none);
    check(r.result_int() == 200 && r.body().find("Sign in") != std::string::npos, "GET / signed out: sign-in form");
    const std::string bogus_csrf = "csrf=00000000000000000000000000000000";
    r = co_await send(port, http::verb::post, "/dashboard", none, bogus_csrf);
    response debug = co_await send(port, http::verb::get, "/debug/stripe-calls", none, none);
    check(r.result_int() == 401 && counter(debug, "calls_started") == 0,
          "click without a session: 401, no Stripe call");
    r = co_await send(port, http::verb::post, "/login", none, nobody);
    check(r.result_int() == 401, "unknown user: 401");

    r = co_await send(port, http::verb::post, "/login", none, alice);
    const std::string cookie(r[http::field::set_cookie]);
    const std::string sid = between(cookie, "sid=", ';');
    check(r.result_int() == 303 && r[http::field::location] == "/", "sign in as alice: 303 to /");
    check(sid.size() == 32 && cookie.find("; HttpOnly") != cookie.npos &&
              cookie.find("; SameSite=Lax") != cookie.npos && cookie.find("; Path=/") != cookie.npos,
          "session cookie: 128-bit id, HttpOnly, SameSite=Lax, Path=/");
    r = co_await send(port, http::verb::get, "/", sid, none);
    const std::string csrf = "csrf=" + between(r.body(), "name=\"csrf\" value=\"", '"');
    check(r.body().find("alice") != std::string::npos &&
              r.body().find("View your Express Dashboard") != std::string::npos && csrf.size() == 5 + 32,
          "GET / signed in: name, button and a CSRF token");

    r = co_await send(port, http::verb::post, "/dashboard", sid, none);
    debug = co_await send(port, http::verb::get, "/debug/stripe-calls", none, none);
    check(r.result_int() == 403 && counter(debug, "calls_started") == 0,
          "click without the CSRF token: 403, no Stripe call");
    const std::string smuggled = csrf + "&account=acct_1BobExpress22";
    r = co_await send(port, http::verb::post, "/dashboard", sid, smuggled);
    const std::string first(r[http::field::location]);
    check(r.result_int() == 302 && first.starts_with(alice_account) && r[http::field::cache_control] == "no-store",
          "click: 302 to alice's Express page (an account in the form is ignored), no-store");
    r = co_await send(port, http::verb::post, "/dashboard", sid, csrf);
    check(r.result_int() == 302 && r[http::field::location].starts_with(alice_account) &&
              r[http::field::location] != first,
          "second click: a new link");

    fake.push(fault::stripe_error(400, "invalid_request_error", "account_invalid"));
    r = co_await send(port, http::verb::post, "/dashboard", sid, csrf);
    check(r.result_int() == 503 &&
              r.body().find("could not open your dashboard, please try again") != std::string::npos,
          "Stripe error: 503 page");
    const std::string logged = log.str();
    check(logged.find("kind=invalid_request status=400 request_id=req_") != std::string::npos &&
              logged.find("/express/") == std::string::npos && logged.find(fake.api_key()) == std::string::npos,
          "Stripe error: logged with kind, status and request id; no link, no key");
    r = co_await send(port, http::verb::post, "/dashboard", sid, csrf);
    check(r.result_int() == 302, "after the error the next click works");

    // The browser gives up while Stripe has not answered: the call must be cancelled at once
    // (else it would wait the whole 10 s attempt timeout).
    fake.push(fault::with(fault::action::hang));
    const std::size_t before = fake.request_count();
    {
        tcp::socket browser(co_await asio::this_coro::executor);
        const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
        co_await browser.async_connect(server, asio::use_awaitable);
        const std::string raw =
            "POST /dashboard HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sid=" + sid +
            "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(csrf.size()) +
            "\r\n\r\n" + csrf;
        const auto buf = asio::buffer(raw);
        co_await asio::async_write(browser, buf, asio::use_awaitable);
        for (int i = 0; i < 500 && fake.request_count() == before; ++i) { // the call reached Stripe
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::use_awaitable);
        }
    } // the browser closes its connection
    const auto left = std::chrono::steady_clock::now();
    bool cancelled = false;
    while (!cancelled && std::chrono::steady_clock::now() - left < 3s) {
        timer.expires_after(10ms);
        co_await timer.async_wait(asio::use_awaitable);
        debug = co_await send(port, http::verb::get, "/debug/stripe-calls", none, none);
        cancelled = counter(debug, "cancelled_by_disconnect") == 1 && counter(debug, "calls_in_flight") == 0;
    }
    check(fake.request_count() > before && cancelled && log.str().find("browser left") != std::string::npos,
          "browser disconnects during the call: the call is cancelled at once");

    r = co_await send(port, http::verb::post, "/login", none, bob);
    const std::string bob_sid = between(r[http::field::set_cookie], "sid=", ';');
    r = co_await send(port, http::verb::get, "/", bob_sid, none);
    const std::string bob_csrf = "csrf=" + between(r.body(), "name=\"csrf\" value=\"", '"');
    check(bob_csrf != csrf, "CSRF tokens are per session");
    r = co_await send(port, http::verb::post, "/dashboard", bob_sid, bob_csrf);
    check(r.result_int() == 302 &&
              r[http::field::location].starts_with(fake.base_url() + "/express/acct_1BobExpress22/"),
          "bob gets bob's account");
    r = co_await send(port, http::verb::post, "/dashboard", bob_sid, csrf);
    check(r.result_int() == 403, "alice's CSRF token is refused in bob's session");

    // A server (or a proxy) that sends every answer twice, or junk after it: alice and bob click
    // in turn, and each is only ever sent to a link for their own account.
    const std::string bob_account = fake.base_url() + "/express/acct_1BobExpress22/";
    bool own_links = true;
    for (int click = 0; click < 10; ++click) {
        fault stray = fault::with(click % 2 ? fault::action::trailing_garbage : fault::action::duplicate_response);
        stray.stray_in_separate_write = click % 4 >= 2;
        fake.push(stray);
        const bool alices = click % 2 == 0;
        r = co_await send(port, http::verb::post, "/dashboard", alices ? sid : bob_sid, alices ? csrf : bob_csrf);
        own_links = own_links && r.result_int() == 302 &&
                    r[http::field::location].starts_with(alices ? alice_account : bob_account);
    }
    check(own_links, "answers sent twice or followed by junk: every click gets its own account's link");

    // The same race, swept, since one timing proves little. Alice clicks; her answer comes with
    // stray bytes meant to land in the next exchange on her connection; bob clicks 0 to 40 ms
    // after her page came. Answers take 30 ms, as a near Stripe's would, so a stray sent 40 ms
    // after alice's answer lands while bob's request is out for some gaps and not for others;
    // a stray held for the connection's next request always lands in front of bob's answer.
    {
        struct stray_kind {
            const char* name;
            fault::action what;
            bool without_key;
            bool before_next;
            std::chrono::milliseconds delay;
        };
        const stray_kind kinds[] = {
            {"a copy in a write of its own", fault::action::duplicate_response, false, false, 0ms},
            {"a copy without the key, 40 ms late", fault::action::duplicate_response, true, false, 40ms},
            {"a copy without the key, before the next answer", fault::action::duplicate_response, true, true, 0ms},
            {"an unasked-for 402, 40 ms late", fault::action::unasked_answer, false, false, 40ms},
            {"an unasked-for 402, before the next answer", fault::action::unasked_answer, false, true, 0ms},
        };
        constexpr int rounds = 3;
        for (const stray_kind& kind : kinds) {
            int wrong = 0, failed_clicks = 0;
            for (auto gap : {0ms, 5ms, 10ms, 20ms, 40ms}) {
                for (int round = 0; round < rounds; ++round) {
                    fault stray = fault::with(kind.what);
                    stray.delay = 30ms;
                    stray.stray_in_separate_write = true;
                    stray.stray_without_key = kind.without_key;
                    stray.stray_before_next_answer = kind.before_next;
                    stray.stray_delay = kind.delay;
                    fake.push(stray);
                    fake.push(fault::delayed(30ms)); // bob's own answer
                    response first = co_await send(port, http::verb::post, "/dashboard", sid, csrf);
                    if (gap.count() > 0) {
                        timer.expires_after(gap);
                        co_await timer.async_wait(asio::use_awaitable);
                    }
                    response second = co_await send(port, http::verb::post, "/dashboard", bob_sid, bob_csrf);
                    for (auto [res, own] : {std::pair{&first, &alice_account}, std::pair{&second, &bob_account}}) {
                        if (res->result_int() != 302) ++failed_clicks;
                        else if (!res->at(http::field::location).starts_with(*own)) ++wrong;
                    }
                }
            }
            std::cout << "stray sweep, " << kind.name << ": " << wrong << " links to the wrong user, "
                      << failed_clicks << " clicks without a link\n";
            check(wrong == 0 && failed_clicks == 0,
                  std::string("stray answers swept over gaps of 0-40 ms (") + kind.name +
                      "): every click gets its own account's link");
        }
    }

    r = co_await send(port, http::verb::post, "/logout", sid, csrf);
    check(r.result_int() == 303 && r[http::field::set_cookie].find("Max-Age=0") != std::string_view::npos,
          "sign out: 303, cookie cleared");
    debug = co_await send(port, http::verb::get, "/debug/stripe-calls", none, none);
    const auto calls = counter(debug, "calls_started");
    r = co_await send(port, http::verb::post, "/dashboard", sid, csrf);
    debug = co_await send(port, http::verb::get, "/debug/stripe-calls", none, none);
    check(r.result_int() == 401 && counter(debug, "calls_started") == calls,
          "click with the signed-out session: 401, no Stripe call");

    // Over Stripe's rate. A 429 that names the endpoint's rate: a busy page, not an error page.
    fault limited = fault::stripe_error(429, "invalid_request_error", "rate_limit");
    limited.headers.emplace_back("Stripe-Rate-Limited-Reason", "endpoint-rate");
    fake.push(limited);
    r = co_await send(port, http::verb::post, "/dashboard", bob_sid, bob_csrf);
    check(r.result_int() == 503 && r.body().find("id=\"busy\"") != std::string::npos &&
              !r[http::field::retry_after].empty() && log.str().find("reason=endpoint-rate") != std::string::npos,
          "Stripe's 429 for the endpoint's rate: busy page with Retry-After");
    // 80 clicks at once: the endpoint's budget (25/s, halved by the 429 just before and climbing
    // back; a click waits at most 2 s) lets 25 to 50 through and answers the rest with the busy
    // page at once; every click is answered, none hangs.
    {
        constexpr int clicks = 80;
        // Shared with each click, so a click still running if the wait below gives up writes
        // into memory that is still there.
        struct tally {
            std::string sid, csrf;
            int answered = 0, redirected = 0, busy = 0, other = 0;
        };
        auto t = std::make_shared<tally>();
        t->sid = bob_sid;
        t->csrf = bob_csrf;
        // No co_await inside the spawning expression: g++ 12 mishandles its temporaries.
        const auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < clicks; ++i)
            asio::co_spawn(
                ex,
                [](unsigned short to, std::shared_ptr<tally> t) -> asio::awaitable<void> {
                    response res = co_await send(to, http::verb::post, "/dashboard", t->sid, t->csrf);
                    if (res.result_int() == 302) ++t->redirected;
                    else if (res.result_int() == 503 && res.body().find("id=\"busy\"") != std::string::npos) ++t->busy;
                    else ++t->other;
                }(port, t),
                [t](std::exception_ptr e) {
                    ++t->answered;
                    if (e) ++t->other;
                });
        for (int i = 0; i < 1500 && t->answered < clicks; ++i) { // 15 s at most
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::use_awaitable);
        }
        std::cout << "burst: " << t->redirected << " links, " << t->busy << " busy, " << t->other << " other\n";
        check(t->answered == clicks && t->other == 0 && t->busy > 0 && t->redirected >= 20,
              "80 clicks at once: each gets its link or the busy page, none hangs");
    }

    const std::string huge = "user=" + std::string(5 * 1024, 'a'); // over the 4 KiB body limit
    r = co_await send(port, http::verb::post, "/login", none, huge);
    check(r.result_int() == 413, "oversized request: 413");

    std::cout << "what the server logged:\n" << log.str();
    std::cout << "self-test: " << passed << " passed, " << failed << " failed" << std::endl;
    co_return failed == 0;
}
