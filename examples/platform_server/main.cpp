// platform_server: a Stripe Connect platform in one file. Signed-in users click "View your
// Express Dashboard"; the server makes a fresh single-use login link for *their* connected account
// and answers the click with a 302 to it.
//
//   platform_server [--port N] [--test-hooks] [--stripe-base URL --ca-file PEM] [--self-test]
//
// Stripe: the embedded fake server by default; the real one when STRIPE_API_KEY is set; or any
// server given by --stripe-base (key from STRIPE_API_KEY, e.g. sk_test_fake_stripe_key for a
// standalone fake-stripe). Plain HTTP on 127.0.0.1: a real deployment sits behind TLS and adds
// `Secure` to the cookie.
#include "session_store.hpp"

#include <stripe_asio/stripe_asio.hpp>
#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using stripe_asio::error_code;
using namespace std::chrono_literals;

// Runs the --self-test checks against this server (self_test.cpp); true when all pass.
asio::awaitable<bool> self_test(unsigned short port, stripe_asio::testing::fake_stripe& fake,
                                const std::ostringstream& log);

namespace {

// The demo's user directory: who may sign in, and the one connected account each may open.
const std::map<std::string, std::string, std::less<>> users = {
    {"alice", "acct_1AliceExpress1"},
    {"bob", "acct_1BobExpress22"},
};

// Bounds: every browser-controlled quantity has a ceiling.
constexpr auto idle_timeout = 30s; // keep-alive connection without a request
constexpr auto write_timeout = 10s; // sending one response
constexpr std::size_t max_header_bytes = 8 * 1024;
constexpr std::size_t max_body_bytes = 4 * 1024; // our forms are tiny
constexpr std::size_t max_connections = 512;
constexpr std::size_t max_sessions = 10'000;

// A named token: g++ 12 mishandles class temporaries inside a co_await expression.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s)
        out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;" : std::string(1, c);
    return out;
}

// The value of `key` in an application/x-www-form-urlencoded body; empty when absent or malformed.
std::string form_value(std::string_view body, std::string_view key) {
    while (!body.empty()) {
        const auto amp = body.find('&');
        const std::string_view pair = body.substr(0, amp);
        body = amp == body.npos ? std::string_view() : body.substr(amp + 1);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) != key) continue;
        const std::string_view raw = eq == pair.npos ? std::string_view() : pair.substr(eq + 1);
        std::string out;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '+') {
                out += ' ';
            } else if (raw[i] == '%') {
                unsigned char byte = 0;
                const char* end = raw.data() + i + 3;
                if (i + 2 >= raw.size() || std::from_chars(raw.data() + i + 1, end, byte, 16).ptr != end) return {};
                out += static_cast<char>(byte);
                i += 2;
            } else {
                out += raw[i];
            }
        }
        return out;
    }
    return {};
}

// The `sid` cookie, or empty.
std::string session_cookie(const request& req) {
    std::string_view header = req[http::field::cookie];
    while (!header.empty()) {
        const auto semi = header.find(';');
        std::string_view item = header.substr(0, semi);
        header = semi == header.npos ? std::string_view() : header.substr(semi + 1);
        while (item.starts_with(' ')) item.remove_prefix(1);
        if (item.starts_with("sid=")) return std::string(item.substr(4));
    }
    return {};
}

// Every page: no caching (it carries a CSRF token), no framing (clickjacking of the button).
response page(http::status status, const request& req, std::string_view title, std::string_view body) {
    response res{status, req.version()};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Frame-Options", "DENY");
    res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    res.body() = "<!doctype html><html><head><meta charset=\"utf-8\"><title>";
    res.body().append(title).append(" - Demo Platform</title></head><body><h1>").append(title).append("</h1>");
    res.body().append(body).append("</body></html>\n");
    return res;
}

const std::string signin_form = "<form method=\"post\" action=\"/login\"><label>Demo user (alice or bob) "
                                "<input id=\"user\" name=\"user\" autocomplete=\"username\" required></label> "
                                "<button id=\"signin\" type=\"submit\">Sign in</button></form>";

response redirect(http::status status, const request& req, const std::string& location) {
    response res{status, req.version()};
    res.set(http::field::location, location);
    res.set(http::field::cache_control, "no-store");
    return res;
}

// While a Stripe call runs for a browser, its socket is watched: a browser that goes away (tab
// closed, user navigated elsewhere, request aborted) shows up as EOF or a reset. The call is then
// cancelled (terminal) through the slot bound to it, so the client stops waiting for Stripe and
// frees its connection at once instead of producing a link nobody will follow. (A client that
// half-closes its side after the request counts as gone too, as in most servers.)
struct call_watch {
    asio::cancellation_signal signal;
    bool finished = false; // the call completed; the socket is ours again
    bool browser_gone = false;
};

void watch_browser(tcp::socket& socket, std::shared_ptr<call_watch> watch) {
    socket.async_wait(tcp::socket::wait_read, [&socket, watch](error_code ec) {
        if (watch->finished) return; // also the operation_aborted we cause when the call ends first
        // Readable with bytes waiting: a pipelined request (browsers do not pipeline). Leave the
        // bytes for the next read and stop watching. Readable with none: EOF or an error.
        if (!ec && socket.available(ec) > 0 && !ec) return;
        watch->browser_gone = true;
        watch->signal.emit(asio::cancellation_type::terminal);
    });
}

class platform_app {
public:
    platform_app(stripe_asio::client& stripe, bool test_hooks, std::ostream& log)
        : stripe_(stripe), test_hooks_(test_hooks), log_(log) {}

    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
        asio::steady_timer backoff(acceptor.get_executor());
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec == asio::error::operation_aborted) co_return;
            if (ec) { // e.g. out of file descriptors: breathe instead of spinning
                backoff.expires_after(100ms);
                co_await backoff.async_wait(use_tuple);
                continue;
            }
            if (connections_ >= max_connections) continue; // the socket closes as it goes out of scope
            ++connections_; // serve() gives it back
            asio::co_spawn(acceptor.get_executor(), serve(std::move(socket)), [this](std::exception_ptr e) {
                if (e) try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                        log_ << "platform_server: connection failed: " << x.what() << std::endl;
                    }
            });
        }
    }

private:
    // One browser connection: read a request (bounded, with an idle timeout), answer, repeat.
    asio::awaitable<void> serve(tcp::socket socket) {
        struct leave {
            std::size_t& n;
            ~leave() { --n; }
        } counted{connections_};
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(max_header_bytes);
            parser.body_limit(max_body_bytes);
            stream.expires_after(idle_timeout);
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
            if (ec == http::error::body_limit || ec == http::error::header_limit) {
                request too_big;
                response res = page(http::status::payload_too_large, too_big, "Request too large", "");
                res.keep_alive(false);
                res.prepare_payload();
                stream.expires_after(write_timeout);
                co_await http::async_write(stream, res, use_tuple);
            }
            if (ec) break; // EOF, timeout, reset or garbage: nothing more to do for this browser
            request req = parser.release();
            std::optional<response> res = co_await handle(req, stream);
            if (!res) break; // the browser left while we worked for it
            res->keep_alive(req.keep_alive());
            res->prepare_payload();
            stream.expires_after(write_timeout); // the deadline also covers time spent above
            auto [wec, written] = co_await http::async_write(stream, *res, use_tuple);
            if (wec || !res->keep_alive()) break;
        }
        error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    asio::awaitable<std::optional<response>> handle(const request& req, beast::tcp_stream& stream) {
        const std::string_view target = req.target();
        const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;
        if (target == "/" && get) co_return home(req);
        if (target == "/login" && post) co_return login(req);
        if (target == "/logout" && post) co_return logout(req);
        if (target == "/dashboard" && post) co_return co_await dashboard(req, stream);
        if (target == "/debug/stripe-calls" && get && test_hooks_) co_return debug_counters(req);
        co_return page(http::status::not_found, req, "Not found", "<p><a href=\"/\">Home</a></p>");
    }

    response home(const request& req) {
        const platform::session* s = sessions_.find(session_cookie(req));
        if (!s) return page(http::status::ok, req, "Sign in", signin_form);
        const std::string csrf = "<input type=\"hidden\" name=\"csrf\" value=\"" + s->csrf + "\">";
        return page(http::status::ok, req, "Welcome",
                    "<p>Signed in as <b id=\"who\">" + html_escape(s->user) +
                        "</b>.</p>"
                        "<form method=\"post\" action=\"/dashboard\">" +
                        csrf +
                        "<button id=\"dashboard\" type=\"submit\">View your Express Dashboard</button></form>"
                        "<form method=\"post\" action=\"/logout\">" +
                        csrf + "<button id=\"signout\" type=\"submit\">Sign out</button></form>");
    }

    response login(const request& req) {
        const auto user = users.find(form_value(req.body(), "user"));
        if (user == users.end())
            return page(http::status::unauthorized, req, "Sign in", "<p>Unknown user.</p>" + signin_form);
        sessions_.erase(session_cookie(req)); // a fresh id at every sign-in
        const std::string sid = sessions_.create(user->first, user->second);
        response res = redirect(http::status::see_other, req, "/");
        res.set(http::field::set_cookie, "sid=" + sid + "; HttpOnly; SameSite=Lax; Path=/");
        return res;
    }

    response logout(const request& req) {
        const std::string sid = session_cookie(req);
        if (const platform::session* s = sessions_.find(sid)) {
            if (!platform::equal_secret(form_value(req.body(), "csrf"), s->csrf))
                return page(http::status::forbidden, req, "Forbidden", "<p>Stale form; reload the page.</p>");
            sessions_.erase(sid);
        }
        response res = redirect(http::status::see_other, req, "/");
        res.set(http::field::set_cookie, "sid=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
        return res;
    }

    // The click. The account comes from the server-side session only, never from the request.
    // Each click makes a new link (they are single-use and short-lived); the URL goes into the
    // Location header and nowhere else: not stored, not cached, not logged.
    asio::awaitable<std::optional<response>> dashboard(const request& req, beast::tcp_stream& stream) {
        const platform::session* s = sessions_.find(session_cookie(req));
        if (!s) co_return page(http::status::unauthorized, req, "Please sign in", signin_form);
        if (!platform::equal_secret(form_value(req.body(), "csrf"), s->csrf))
            co_return page(http::status::forbidden, req, "Forbidden", "<p>Stale form; reload the page.</p>");
        const std::string account = s->account; // a copy: the session may go while we wait

        auto watch = std::make_shared<call_watch>();
        watch_browser(stream.socket(), watch);
        const stripe_asio::request_options options; // named, see use_tuple
        auto token = asio::bind_cancellation_slot(watch->signal.slot(), use_tuple); // not const: Asio 1.81
        auto [ec, diag, link] = co_await stripe_.create_login_link(account, options, token);
        watch->finished = true;
        error_code ignored;
        stream.socket().cancel(ignored); // ends the watch (its handler sees `finished`)

        if (watch->browser_gone) {
            ++cancelled_by_disconnect_;
            log_ << "platform_server: browser left; login-link call cancelled (kind=" << stripe_asio::error_kind(ec)
                 << ")" << std::endl;
            co_return std::nullopt;
        }
        if (ec == stripe_asio::errc::rate_budget_exhausted || ec == stripe_asio::errc::rate_limit) {
            // Over Stripe's rate: ours (no room soon enough) or Stripe's (a 429). Nothing hangs;
            // the person is asked to come back, and the Retry-After says when.
            auto wait = std::chrono::ceil<std::chrono::seconds>(diag.rate_budget_wait).count();
            log_ << "platform_server: busy: kind=" << stripe_asio::error_kind(ec) << " reason="
                 << (diag.rate_limited_reason == stripe_asio::rate_limit_reason::none ? "-"
                                                                                      : name(diag.rate_limited_reason))
                 << std::endl;
            response res = page(http::status::service_unavailable, req, "Busy",
                                "<p id=\"busy\">We are busy right now. Please try again in a few seconds.</p>"
                                "<p><a href=\"/\">Back</a></p>");
            res.set(http::field::retry_after, std::to_string(std::max<long long>(wait, 1)));
            co_return res;
        }
        if (ec) {
            // Enough to find the call in Stripe's logs; never the key (diagnostics hold none) nor a link.
            log_ << "platform_server: login link failed: kind=" << stripe_asio::error_kind(ec)
                 << " status=" << diag.http_status
                 << " request_id=" << (diag.request_id.empty() ? "-" : diag.request_id) << std::endl;
            co_return page(http::status::service_unavailable, req, "Dashboard unavailable",
                           "<p id=\"error\">We could not open your dashboard, please try again.</p>"
                           "<p><a href=\"/\">Back</a></p>");
        }
        co_return redirect(http::status::found, req, link.url);
    }

    // --test-hooks only: what the tests need to prove that a refused click made no Stripe call.
    response debug_counters(const request& req) {
        const stripe_asio::client_stats st = stripe_.stats();
        response res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        res.body() = "{\"calls_started\":" + std::to_string(st.calls_started) +
                     ",\"calls_succeeded\":" + std::to_string(st.calls_succeeded) +
                     ",\"calls_failed\":" + std::to_string(st.calls_failed) +
                     ",\"calls_in_flight\":" + std::to_string(st.calls_in_flight) +
                     ",\"cancelled_by_disconnect\":" + std::to_string(cancelled_by_disconnect_) + "}";
        return res;
    }

    stripe_asio::client& stripe_;
    bool test_hooks_;
    std::ostream& log_;
    platform::session_store sessions_{max_sessions};
    std::size_t connections_ = 0;
    std::uint64_t cancelled_by_disconnect_ = 0;
};

constexpr std::string_view usage =
    "usage: platform_server [--port N] [--test-hooks] [--stripe-base URL] [--ca-file PEM] [--self-test]\n"
    "  --port N           port on 127.0.0.1 (default 0: ephemeral); prints 'listening on http://...'\n"
    "  --test-hooks       serve GET /debug/stripe-calls (counters for tests)\n"
    "  --stripe-base URL  Stripe API base (key from STRIPE_API_KEY); default: the embedded fake\n"
    "                     server, or api.stripe.com when STRIPE_API_KEY is set\n"
    "  --ca-file PEM      CAs to trust for --stripe-base\n"
    "  --self-test        sign in, click, sign out against the embedded fake; exit 0 when all pass\n";

} // namespace

int main(int argc, char** argv) {
    unsigned short port = 0;
    bool test_hooks = false, run_self_test = false;
    std::string stripe_base, ca_file;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--port" && has_value) {
            const std::string_view v = argv[++i];
            if (std::from_chars(v.data(), v.data() + v.size(), port).ptr != v.data() + v.size()) {
                std::cerr << "platform_server: bad port\n" << usage;
                return 2;
            }
        } else if (arg == "--stripe-base" && has_value) {
            stripe_base = argv[++i];
        } else if (arg == "--ca-file" && has_value) {
            ca_file = argv[++i];
        } else if (arg == "--test-hooks") {
            test_hooks = true;
        } else if (arg == "--self-test") {
            run_self_test = test_hooks = true;
        } else {
            std::cerr << (arg == "--help" || arg == "-h" ? "" : "platform_server: bad arguments\n") << usage;
            return arg == "--help" || arg == "-h" ? 0 : 2;
        }
    }

    try {
        asio::io_context ioc(1); // one thread runs everything: the browser side and the Stripe client

        std::unique_ptr<stripe_asio::testing::fake_stripe> fake;
        stripe_asio::config cfg;
        if (std::getenv("STRIPE_API_KEY") || !stripe_base.empty()) {
            cfg = stripe_asio::config::from_env();
            if (!stripe_base.empty()) cfg.base_url = stripe_base;
            if (!ca_file.empty()) cfg.ca_file = ca_file;
        } else {
            fake = std::make_unique<stripe_asio::testing::fake_stripe>(); // its own thread, in-process
            cfg.api_key = fake->api_key();
            cfg.base_url = fake->base_url();
            cfg.ca_pem = fake->ca_pem();
        }
        if (run_self_test && !fake) {
            std::cerr << "platform_server: --self-test runs against the embedded fake only (unset STRIPE_API_KEY)\n";
            return 2;
        }
        // Only this thread touches the client, so its strand would be pure overhead.
        cfg.thread_safe = false;
        // A person waits for each call: fail within seconds, not after SDK-sized 80 s attempts.
        cfg.attempt_timeout = 10s;
        if (cfg.call_timeout == 0ms) cfg.call_timeout = 20s;
        // Stripe's rate limits are kept on this side; a click waits at most 2 s for room, then
        // the person is told to try again (a busy page) rather than left waiting.
        cfg.rate_budget.max_wait = 2s;
        stripe_asio::client stripe(ioc, cfg); // throws on a bad configuration (missing key, ...)

        std::ostringstream captured_log; // --self-test checks what would have been logged
        platform_app app(stripe, test_hooks, run_self_test ? static_cast<std::ostream&>(captured_log) : std::cerr);
        tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), port});
        std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
        std::cerr << "platform_server: Stripe at " << cfg.base_url << (fake ? " (embedded fake)" : "") << std::endl;

        int exit_code = 0;
        auto rethrow = [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        };
        asio::co_spawn(ioc, app.accept_loop(acceptor), rethrow);
        asio::signal_set signals(ioc, SIGINT, SIGTERM);
        signals.async_wait([&](error_code ec, int) {
            if (!ec) ioc.stop();
        });
        if (run_self_test) {
            asio::co_spawn(ioc, self_test(acceptor.local_endpoint().port(), *fake, captured_log),
                           [&](std::exception_ptr e, bool passed) {
                               exit_code = e || !passed ? 1 : 0;
                               ioc.stop();
                               rethrow(e);
                           });
        }
        ioc.run();
        return exit_code;
    } catch (const stripe_asio::error_with_diagnostics& e) {
        std::cerr << "platform_server: " << stripe_asio::error_kind(e.code()) << ": " << e.what() << '\n';
    } catch (const std::exception& e) {
        std::cerr << "platform_server: " << e.what() << '\n';
    }
    return 1;
}
