// The client against a server that misbehaves on purpose: answers that never end, that are
// too large, framed badly, meant for another call, or carried by a bad certificate.
//
// Every call is checked for the same things, whatever the case: it completes exactly once,
// within its attempts' timeouts and a margin, leaves no work behind, and the API key appears
// nowhere in what it returns. Each case then checks its own outcome.
#include "integration/hostile_server.hpp"
#include "integration/test_pki.hpp"

#include <stripe_asio/stripe_asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace hostile;
using stripe_asio::errc;
using clock_type = std::chrono::steady_clock;

const std::string secret = "sk_test_HOSTILE_SECRET_4242";
const std::string account = "acct_1032D82eZvKYlo2C";
constexpr std::chrono::milliseconds attempt_timeout{400};
// Room for a loaded two-core machine on top of the deterministic timeouts.
constexpr std::chrono::milliseconds margin{1000};
constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

const test_pki::authority& pki() { return test_pki::shared(); }

/// Quick timeouts, no retries, no stale-connection resend: one attempt means one attempt.
stripe_asio::config config_for(const hostile_server& server) {
    stripe_asio::config cfg;
    cfg.api_key = secret;
    cfg.base_url = server.base_url();
    cfg.ca_pem = pki().ca_pem();
    cfg.attempt_timeout = attempt_timeout;
    cfg.retry.max_retries = 0;
    cfg.retry.retry_stale_connection = false;
    cfg.retry.initial_delay = 5ms;
    cfg.retry.max_delay = 20ms;
    cfg.rate_budget.enabled = false;
    return cfg;
}

stripe_asio::config with_retries(stripe_asio::config cfg) {
    cfg.retry.max_retries = 2;
    cfg.retry.retry_stale_connection = true;
    return cfg;
}

struct outcome {
    int completions = 0;
    stripe_asio::error_code ec;
    stripe_asio::diagnostics diag;
    stripe_asio::login_link link;
    clock_type::duration elapsed{};
};

long long ms(clock_type::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::string describe(const outcome& o) {
    std::string s = o.ec ? std::string(stripe_asio::error_kind(o.ec)) + " (" + o.ec.message() + ")" : "success";
    s += " after " + std::to_string(ms(o.elapsed)) + " ms";
    if (!o.ec) s += ", url " + o.link.url;
    s += "; diagnostics: " + o.diag.to_string().substr(0, 600);
    return s;
}

/// The longest a call may take: every attempt's timeout and backoff, and the margin.
clock_type::duration bound_for(const stripe_asio::config& cfg) {
    unsigned attempts = 1 + cfg.retry.max_retries + (cfg.retry.retry_stale_connection ? 1 : 0);
    return cfg.attempt_timeout * attempts + cfg.retry.max_delay * attempts + margin;
}

void check_secret_absent(const outcome& o) {
    auto clean = [](const std::string& where, std::string_view text) {
        CHECK_MESSAGE(text.find(secret) == std::string_view::npos,
                      where << " holds the API key: " << std::string(text.substr(0, 300)));
    };
    const auto& d = o.diag;
    clean("diagnostics::to_string()", d.to_string());
    clean("diagnostics::type", d.type);
    clean("diagnostics::code", d.code);
    clean("diagnostics::decline_code", d.decline_code);
    clean("diagnostics::message", d.message);
    clean("diagnostics::param", d.param);
    clean("diagnostics::doc_url", d.doc_url);
    clean("diagnostics::request_id", d.request_id);
    clean("diagnostics::idempotency_key", d.idempotency_key);
    clean("diagnostics::detail", d.detail);
    for (const auto& a : d.failed_attempts) clean("attempt_record::request_id", a.request_id);
    if (o.ec) {
        clean("error_with_diagnostics::what()", stripe_asio::error_with_diagnostics(o.ec, d).what());
        clean("error_code::message()", o.ec.message());
    }
    clean("login_link::object", o.link.object);
    clean("login_link::url", o.link.url);
    clean("login_link::meta.request_id", o.link.meta.request_id.view());
    clean("login_link::meta.idempotency_key", o.link.meta.idempotency_key.view());
}

/// One create_login_link call, run on `ioc` until it and all it started are done, and the
/// checks every call gets.
outcome call_link(asio::io_context& ioc, stripe_asio::client& client, const stripe_asio::config& cfg) {
    // Shared with the handler: a call that completes late must not write into a dead frame.
    auto result = std::make_shared<outcome>();
    auto start = clock_type::now();
    client.create_login_link(account, [result, start](stripe_asio::error_code ec, stripe_asio::diagnostics diag,
                                                      stripe_asio::login_link link) {
        if (++result->completions > 1) return;
        result->elapsed = clock_type::now() - start;
        result->ec = ec;
        result->diag = std::move(diag);
        result->link = std::move(link);
    });
    auto bound = bound_for(cfg);
    ioc.restart();
    // A little past the bound, so a late completion is told from none.
    ioc.run_for(bound + 1s);
    bool drained = ioc.stopped();
    outcome o = *result;
    CHECK_MESSAGE(o.completions == 1, "the call completed " << o.completions << " times");
    CHECK_MESSAGE(drained, "work was left on the io_context after the call");
    if (o.completions > 0)
        CHECK_MESSAGE(o.elapsed <= bound, "took " << ms(o.elapsed) << " ms, bound " << ms(bound) << " ms");
    check_secret_absent(o);
    return o;
}

std::string names(const std::vector<errc>& allowed) {
    std::string s;
    for (errc e : allowed) s += std::string(s.empty() ? "" : " or ") + stripe_asio::error_kind(e);
    return s;
}

/// The call failed with one of `allowed`, and returned no link.
bool expect_error(const outcome& o, const std::vector<errc>& allowed) {
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](errc e) { return o.ec == e; });
    CHECK_MESSAGE(ok, "expected " << names(allowed) << ", got " << describe(o));
    CHECK_MESSAGE(o.link.url.empty(), "a failed call returned a url: " << o.link.url);
    return ok;
}

/// The call succeeded with a url the server made for one of its requests, a request that came
/// on connection `on_connection` with the key the call reports.
bool expect_own_link(const outcome& o, const hostile_server& server, std::size_t on_connection) {
    CHECK_MESSAGE(!o.ec, "expected success, got " << describe(o));
    if (o.ec) return false;
    auto req = server.request_answered_with(o.link.url);
    CHECK_MESSAGE(req.has_value(), "the url is not one the server made for a request: " << o.link.url);
    if (!req) return false;
    CHECK_MESSAGE(req->connection == on_connection, "answered on connection " << req->connection);
    CHECK(req->idempotency_key() == o.link.meta.idempotency_key.view());
    CHECK(o.link.object == "login_link");
    return req->connection == on_connection;
}

/// TLS with the good leaf and one request read, then `then`.
script after_request(std::vector<step> then) {
    script s;
    s.steps = {tls_accept(pki().good()), read_request()};
    s.steps.insert(s.steps.end(), std::make_move_iterator(then.begin()), std::make_move_iterator(then.end()));
    return s;
}

std::string hex(std::size_t n) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return buf;
}

std::string repeat(std::string_view unit, std::size_t times) {
    std::string out;
    out.reserve(unit.size() * times);
    for (std::size_t i = 0; i < times; ++i) out += unit;
    return out;
}

const std::string ok_head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
const std::string chunked_head = ok_head + "Transfer-Encoding: chunked\r\n\r\n";
const std::string static_link = login_link_json("https://connect.stripe.com/express/static_link_in_a_broken_answer");

// Memory of this process: the client's buffers and the server's (which stay small).
std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t total = 0, resident = 0;
    statm >> total >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Resets the kernel's peak-RSS mark, so a buffer that grew and was freed during the call is
/// still seen. False where /proc does not allow it.
bool reset_peak_resident() {
    std::ofstream clear("/proc/self/clear_refs");
    if (!clear) return false;
    clear << "5";
    clear.flush();
    return static_cast<bool>(clear);
}

std::size_t peak_resident_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) {
            std::istringstream in(line.substr(6));
            std::size_t kb = 0;
            in >> kb;
            return kb * KiB;
        }
    }
    return resident_bytes();
}

} // namespace

TEST_SUITE("hostile") {

TEST_CASE("a response that never ends, or drips forever, ends with attempt_timeout") {
    struct row {
        std::string name;
        script s;
        bool reaches_request;
    };
    std::vector<row> rows;
    rows.push_back({"TCP accepted, no TLS handshake ever", script{{hang()}, {}}, false});
    rows.push_back({"silence after the request", after_request({hang()}), true});
    rows.push_back({"headers, then a body that never comes",
                    after_request({send(ok_head + "Content-Length: 500\r\n\r\n{\"object\":"), hang()}), true});
    rows.push_back({"a chunked body without its last chunk",
                    after_request({send(chunked_head + "5\r\n{\"obj\r\n"), hang()}), true});
    rows.push_back(
        {"the answer dripped a byte every 30 ms", after_request({send_slowly(login_link_ok(), 30ms)}), true});
    rows.push_back({"endless one-byte chunks dripped",
                    after_request({send(chunked_head), send_slowly(raw(repeat("1\r\na\r\n", 2000)), 10ms)}), true});
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(std::move(r.s));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::attempt_timeout});
        CHECK(o.elapsed >= attempt_timeout);
        CHECK(o.diag.attempts == 1);
        CHECK(server.requests().size() == (r.reaches_request ? 1u : 0u));
    }
}

TEST_CASE("oversized framing is response_too_large, with memory bounded") {
    struct row {
        std::string name;
        step oversized;
    };
    std::string link_chunk = hex(static_link.size()) + "\r\n" + static_link + "\r\n";
    std::vector<row> rows;
    rows.push_back({"a 64 KiB status line", stream("HTTP/1.1 200 ", "O", 64 * KiB, "\r\nContent-Length: 0\r\n\r\n")});
    rows.push_back({"a header block over 16 KiB",
                    stream(ok_head, "X-Filler: 0123456789abcdef\r\n", 20 * KiB, "Content-Length: 0\r\n\r\n")});
    rows.push_back({"one 1 MiB header", stream(ok_head + "X-Huge: ", "a", 1 * MiB, "\r\nContent-Length: 0\r\n\r\n")});
    rows.push_back(
        {"a 64 MiB chunk extension", stream(chunked_head + "5", ";a=b", 64 * MiB, "\r\nhello\r\n0\r\n\r\n")});
    rows.push_back({"64 MiB of trailers",
                    stream(chunked_head + link_chunk + "0\r\n", "X-Trailer: aaaaaaaaaaaaaaaa\r\n", 64 * MiB, "\r\n")});
    rows.push_back({"a chunked body past max_response_bytes",
                    stream(chunked_head, "4000\r\n" + std::string(0x4000, 'a') + "\r\n", 64 * MiB, "0\r\n\r\n")});
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request({std::move(r.oversized), hang()}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
#if !defined(__SANITIZE_ADDRESS__)
        std::size_t before = resident_bytes();
        bool peak_known = reset_peak_resident();
#endif
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::response_too_large});
        CHECK(o.diag.attempts == 1);
#if !defined(__SANITIZE_ADDRESS__)
        std::size_t after = peak_known ? peak_resident_bytes() : resident_bytes();
        CHECK_MESSAGE(after < before + 32 * MiB,
                      "memory grew by " << (after - std::min(after, before)) / MiB << " MiB during the call");
#endif
    }
}

TEST_CASE("chunked framing errors are malformed_response") {
    struct row {
        std::string name;
        std::string bytes;
        step ending;
        bool truncation; // the stream ends early: a connection error is as right
    };
    std::string size = hex(static_link.size());
    std::vector<row> rows;
    rows.push_back(
        {"a chunk size that is not hex", chunked_head + "zz\r\n" + static_link + "\r\n0\r\n\r\n", hang(), false});
    rows.push_back({"an empty chunk-size line", chunked_head + "\r\n" + static_link + "\r\n0\r\n\r\n", hang(), false});
    rows.push_back(
        {"no CRLF after the chunk data", chunked_head + size + "\r\n" + static_link + "0\r\n\r\n", hang(), false});
    rows.push_back(
        {"a chunk longer than announced", chunked_head + "10\r\n" + static_link + "\r\n0\r\n\r\n", hang(), false});
    rows.push_back({"a last chunk with junk after its size",
                    chunked_head + size + "\r\n" + static_link + "\r\n0zz\r\n\r\n", hang(), false});
    rows.push_back({"a trailer that is not a header field",
                    chunked_head + size + "\r\n" + static_link + "\r\n0\r\nnot a header field\r\n\r\n", hang(), false});
    rows.push_back({"the end of the stream inside a chunk (close)", chunked_head + "64\r\n" + static_link.substr(0, 10),
                    close(), true});
    rows.push_back({"the end of the stream inside a chunk (reset)", chunked_head + "64\r\n" + static_link.substr(0, 10),
                    reset(), true});
    rows.push_back({"the end of the stream before the last chunk", chunked_head + size + "\r\n" + static_link + "\r\n",
                    close(), true});
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request({send(r.bytes), std::move(r.ending)}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        if (r.truncation) expect_error(o, {errc::malformed_response, errc::connection_error});
        else expect_error(o, {errc::malformed_response});
    }
}

TEST_CASE("a Content-Length that cannot be trusted is refused") {
    struct row {
        std::string name;
        std::string headers; // after the status line and content type, up to the blank line
        std::string body;
        std::vector<errc> expected;
    };
    const std::string n = std::to_string(static_link.size());
    const std::string link_chunks = chunked(static_link, 16);
    std::vector<row> rows = {
        {"two different Content-Length headers",
         "Content-Length: " + n + "\r\nContent-Length: " + std::to_string(static_link.size() + 1) + "\r\n",
         static_link,
         {errc::malformed_response}},
        {"Content-Length with letters", "Content-Length: " + n + "abc\r\n", static_link, {errc::malformed_response}},
        {"Content-Length in hex",
         "Content-Length: 0x" + hex(static_link.size()) + "\r\n",
         static_link,
         {errc::malformed_response}},
        {"a negative Content-Length", "Content-Length: -" + n + "\r\n", static_link, {errc::malformed_response}},
        {"Content-Length, then Transfer-Encoding: chunked",
         "Content-Length: " + n + "\r\nTransfer-Encoding: chunked\r\n",
         link_chunks,
         {errc::malformed_response}},
        {"Transfer-Encoding: chunked, then Content-Length",
         "Transfer-Encoding: chunked\r\nContent-Length: " + n + "\r\n",
         link_chunks,
         {errc::malformed_response}},
        {"Content-Length past max_response_bytes",
         "Content-Length: 2000000\r\n",
         static_link,
         {errc::response_too_large}},
        {"Content-Length past 2^64",
         "Content-Length: 18446744073709551616\r\n",
         static_link,
         {errc::response_too_large, errc::malformed_response}},
    };
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request({send(ok_head + r.headers + "\r\n" + r.body), hang()}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, r.expected);
    }
}

TEST_CASE("an answer that ends its connection is used, and the next call opens a new one") {
    struct row {
        std::string name;
        answer_options framing;
    };
    answer_options http10_until_close;
    http10_until_close.version = "HTTP/1.0";
    http10_until_close.frame = answer_options::framing::until_close;
    answer_options http10_sized;
    http10_sized.version = "HTTP/1.0";
    answer_options close_sized;
    close_sized.connection_close = true;
    answer_options close_until_close = close_sized;
    close_until_close.frame = answer_options::framing::until_close;
    std::vector<row> rows = {
        {"HTTP/1.0 without Content-Length, the body ending at the close", http10_until_close},
        {"HTTP/1.0 with Content-Length and no keep-alive", http10_sized},
        {"HTTP/1.1 with Connection: close", close_sized},
        {"HTTP/1.1 with Connection: close, the body ending at the close", close_until_close},
    };
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request({send(login_link_ok(r.framing)), close()}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto first = call_link(ioc, client, cfg);
        expect_own_link(first, server, 1);
        auto second = call_link(ioc, client, cfg);
        expect_own_link(second, server, 2);
        CHECK(server.connections_accepted() == 2);
        auto requests = server.requests();
        REQUIRE(requests.size() == 2);
        // The key this suite looks for everywhere was indeed sent, to the server only.
        CHECK(requests[0].authorization() == "Bearer " + secret);
    }
}

TEST_CASE("interim 1xx responses are skipped, but not without end") {
    const std::string continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
    const std::string processing_102 = "HTTP/1.1 102 Processing\r\n\r\n";
    const std::string early_hints_103 = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    struct row {
        std::string name;
        std::vector<step> steps;
        bool succeeds;
    };
    std::vector<row> rows;
    rows.push_back({"100 Continue, then the 200", {send(preceded_by(continue_100, login_link_ok()))}, true});
    rows.push_back({"103 Early Hints, then the 200", {send(preceded_by(early_hints_103, login_link_ok()))}, true});
    rows.push_back({"100, 102 and 103, then the 200",
                    {send(preceded_by(continue_100 + processing_102 + early_hints_103, login_link_ok()))},
                    true});
    rows.push_back(
        {"100 Continue, the 200 in a later write", {send(continue_100), delay(20ms), send(login_link_ok())}, true});
    rows.push_back({"fifty 1xx in a row, then the 200", {send(preceded_by(repeat(continue_100, 50), login_link_ok()))},
                    true});
    rows.push_back({"1xx answers past the header limit (16 KiB) in all",
                    {send(preceded_by(repeat(continue_100, 700), login_link_ok())), hang()},
                    false});
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request(std::move(r.steps)));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        if (r.succeeds) {
            if (expect_own_link(o, server, 1)) CHECK(o.link.meta.http_status == 200);
        } else {
            expect_error(o, {errc::response_too_large});
        }
    }
}

// THE security property: a call never returns a link made for another call.
TEST_CASE("bytes after an answer never become the answer to the next call") {
    SUBCASE("leftovers on an idle connection: the next call gets its own answer, on a new connection") {
        struct row {
            std::string name;
            std::vector<step> after_first_request;
            std::size_t steps_before_next_call; // of connection 1's script
        };
        std::vector<row> rows;
        rows.push_back({"(a) the whole answer twice, back to back",
                        {send(twice(login_link_ok())), read_request(), send(login_link_ok())},
                        3});
        rows.push_back({"(b) the answer, then garbage",
                        {send(followed_by(login_link_ok(), "HTTP/1.1 200 OK\r\n\x01\x02 garbage\r\n\r\n")),
                         read_request(), send(login_link_ok())},
                        3});
        rows.push_back({"(c) the answer, then its duplicate 20 ms later",
                        {send(login_link_ok()), delay(20ms), resend_answer(0), read_request(), send(login_link_ok())},
                        5});
        for (auto& r : rows) {
            CAPTURE(r.name);
            hostile_server server;
            server.push(after_request(std::move(r.after_first_request)));
            asio::io_context ioc;
            auto cfg = config_for(server);
            stripe_asio::client client(ioc, cfg);
            auto first = call_link(ioc, client, cfg);
            expect_own_link(first, server, 1);
            // The leftover bytes are out before the next call starts.
            CHECK(server.wait_for_steps(1, r.steps_before_next_call));
            auto second = call_link(ioc, client, cfg);
            CHECK_MESSAGE(second.link.url != first.link.url, "the second call returned the first call's link");
            expect_own_link(second, server, 2);
            CHECK(server.connections_accepted() == 2);
        }
    }

    SUBCASE("(d) the old answer again, sent after the next request arrives") {
        // From a server that echoes keys (the copy has the first request's key) and from one
        // that never does (the copy is told by its Request-Id).
        for (auto both : {std::pair{false, true}, std::pair{true, true}, std::pair{false, false},
                          std::pair{true, false}}) {
            const bool retries = both.first, echoes = both.second; // named, not bound: CAPTURE takes them
            CAPTURE(retries);
            CAPTURE(echoes);
            answer_options options;
            options.echo_idempotency_key = echoes;
            hostile_server server;
            server.push(after_request({send(login_link_ok(options)), read_request(), resend_answer(0), hang()}));
            asio::io_context ioc;
            auto cfg = retries ? with_retries(config_for(server)) : config_for(server);
            stripe_asio::client client(ioc, cfg);
            auto first = call_link(ioc, client, cfg);
            expect_own_link(first, server, 1);
            auto second = call_link(ioc, client, cfg);
            CHECK_MESSAGE(second.link.url != first.link.url, "the second call returned the first call's link");
            if (retries) {
                expect_own_link(second, server, 2);
                CHECK(second.link.meta.attempts == 2);
            } else {
                expect_error(second, {errc::connection_error});
                CHECK(second.diag.attempts == 1);
            }
            auto requests = server.requests();
            REQUIRE(requests.size() >= 2);
            // The second request went on the kept connection, and its answer was the first's.
            CHECK(requests[1].connection == 1);
            CHECK(requests[1].idempotency_key() != requests[0].idempotency_key());
            CHECK(requests[1].answered_url.empty());
        }
    }
}

TEST_CASE("an answer without the key, from a server that has echoed keys, is not the request's") {
    answer_options no_echo;
    no_echo.echo_idempotency_key = false;
    const std::string declined =
        R"({"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}})";
    struct row {
        std::string name;
        answer stray;
    };
    std::vector<row> rows;
    rows.push_back({"a login link without the key", login_link_ok(no_echo)});
    rows.push_back({"a 402 nobody asked for, with a Request-Id of its own", respond(402, "Payment Required", declined,
                                                                                   no_echo)});
    for (auto& r : rows) {
        for (auto policy : {stripe_asio::key_echo_policy::learn, stripe_asio::key_echo_policy::ignored}) {
            CAPTURE(r.name);
            CAPTURE(int(policy));
            hostile_server server;
            server.push(after_request({send(login_link_ok()), read_request(), send(r.stray), hang()}));
            asio::io_context ioc;
            auto cfg = config_for(server);
            cfg.key_echo = policy;
            stripe_asio::client client(ioc, cfg);
            auto first = call_link(ioc, client, cfg); // its key echoed: the server echoes keys
            expect_own_link(first, server, 1);
            auto second = call_link(ioc, client, cfg);
            if (policy == stripe_asio::key_echo_policy::learn) {
                expect_error(second, {errc::connection_error});
                CHECK(second.diag.detail.find("Idempotency-Key") != std::string::npos);
                CHECK(second.diag.type.empty()); // nothing of the stray answer is taken
                CHECK(client.stats().answers_refused == 1);
            } else { // told not to expect the echo: HTTP/1.1 has no other way to tell
                CHECK(client.stats().answers_refused == 0);
                if (r.name.starts_with("a login link")) expect_own_link(second, server, 1);
                else expect_error(second, {errc::card_error}); // the stray 402, taken as its answer
            }
        }
    }
}

TEST_CASE("a server that repeats its Request-Ids (as a mock may) is served after one new connection") {
    answer_options constant_id;
    constant_id.request_id = "req_123";
    const std::string own = R"({"id":"acct_1AskedAccount7","object":"account"})";
    hostile_server server(keep_alive(pki().good(), respond(200, "OK", own, constant_id)));
    asio::io_context ioc;
    auto cfg = with_retries(config_for(server));
    stripe_asio::client client(ioc, cfg);
    for (int call = 0; call < 4; ++call) {
        CAPTURE(call);
        stripe_asio::error_code ec = errc::api_error;
        stripe_asio::diagnostics diag;
        client.request(stripe_asio::http_method::get, "/v1/accounts/acct_1AskedAccount7", {}, {},
                       [&](stripe_asio::error_code e, stripe_asio::diagnostics d, stripe_asio::json_response) {
                           ec = e;
                           diag = std::move(d);
                       });
        ioc.restart();
        ioc.run_for(bound_for(cfg) + 1s);
        CHECK_MESSAGE(!ec, diag.to_string());
    }
    // The second call's answer repeated the first's id on a reused connection: refused once, and
    // the new connection's first answer, which can't be a copy, showed the ids repeat.
    CHECK(client.stats().answers_refused == 1);
    CHECK(server.connections_accepted() == 2);
}

TEST_CASE("an answer to a GET about another object than the one asked for is not the request's") {
    const std::string other = R"({"id":"acct_1OtherAccount9","object":"account"})";
    const std::string own = R"({"id":"acct_1AskedAccount7","object":"account"})";
    for (bool retries : {false, true}) {
        CAPTURE(retries);
        hostile_server server;
        server.push(after_request({send(respond(200, "OK", other)), hang()}));
        server.push(after_request({send(respond(200, "OK", own)), hang()}));
        asio::io_context ioc;
        auto cfg = retries ? with_retries(config_for(server)) : config_for(server);
        stripe_asio::client client(ioc, cfg);
        stripe_asio::error_code ec;
        stripe_asio::diagnostics diag;
        stripe_asio::json_response answer;
        client.request(stripe_asio::http_method::get, "/v1/accounts/acct_1AskedAccount7", {}, {},
                       [&](stripe_asio::error_code e, stripe_asio::diagnostics d, stripe_asio::json_response r) {
                           ec = e;
                           diag = std::move(d);
                           answer = std::move(r);
                       });
        ioc.run_for(bound_for(cfg) + 1s);
        if (retries) {
            CHECK_MESSAGE(!ec, diag.to_string());
            CHECK(answer.body.as_object().at("id").as_string() == "acct_1AskedAccount7");
        } else {
            CHECK(ec == errc::connection_error);
            CHECK(diag.detail.find("another object") != std::string::npos);
        }
        CHECK(client.stats().answers_refused == 1);
    }
}

TEST_CASE("an answer framed by the close and cut by a FIN without TLS close_notify is incomplete") {
    answer_options http10_until_close;
    http10_until_close.version = "HTTP/1.0";
    http10_until_close.frame = answer_options::framing::until_close;
    answer_options sized_then_close;
    sized_then_close.connection_close = true;
    struct row {
        std::string name;
        answer_options framing;
        bool complete;
    };
    for (const row& r : {row{"HTTP/1.0, the body ending at the close", http10_until_close, false},
                         row{"Content-Length, all of it, then Connection: close", sized_then_close, true}}) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request({send(login_link_ok(r.framing)), close_without_notify()}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        if (r.complete) {
            expect_own_link(o, server, 1);
        } else {
            expect_error(o, {errc::connection_error});
            CHECK(o.diag.detail.find("close_notify") != std::string::npos);
        }
    }
}

TEST_CASE("a login URL too long for a redirect is refused as too long") {
    const std::string url = "https://connect.stripe.com/express/" + std::string(900 * KiB, 'a');
    hostile_server server;
    server.push(after_request({send(respond(200, "OK", login_link_json(url))), hang()}));
    asio::io_context ioc;
    auto cfg = config_for(server);
    stripe_asio::client client(ioc, cfg);
    auto o = call_link(ioc, client, cfg);
    expect_error(o, {errc::malformed_response});
    CHECK(o.diag.detail.find("longer than 5000 characters") != std::string::npos);
}

TEST_CASE("a reset or a close at any stage is a connection_error") {
    struct stage {
        std::string name;
        std::vector<step> before;
        bool reaches_request;
    };
    const std::vector<stage> stages = {
        {"as soon as TCP is accepted", {}, false},
        {"after the first bytes of the ClientHello", {read_some()}, false},
        {"after the TLS handshake, before the request", {tls_accept(pki().good())}, false},
        {"after reading the request", {tls_accept(pki().good()), read_request()}, true},
        {"in the middle of the status line", {tls_accept(pki().good()), read_request(), send("HTTP/1.1 20")}, true},
        {"in the middle of the headers",
         {tls_accept(pki().good()), read_request(), send("HTTP/1.1 200 OK\r\nContent-Type: appl")},
         true},
        {"in the middle of the body",
         {tls_accept(pki().good()), read_request(), send(ok_head + "Content-Length: 120\r\n\r\n{\"object\":\"login")},
         true},
    };
    auto check_stage = [](const std::string& name, script s, bool reaches_request) {
        CAPTURE(name);
        hostile_server server;
        server.push(std::move(s));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::connection_error});
        CHECK(o.diag.attempts == 1);
        CHECK(server.requests().size() == (reaches_request ? 1u : 0u));
    };
    for (const auto& st : stages) {
        for (bool graceful : {true, false}) {
            CAPTURE(graceful);
            script s;
            s.steps = st.before;
            s.steps.push_back(graceful ? close() : reset());
            check_stage(st.name, std::move(s), st.reaches_request);
        }
    }
    check_stage("during the TLS handshake (close_during_handshake)", script{{close_during_handshake()}, {}}, false);
}

TEST_CASE("a reused connection closed before the answer is resent once, on a new connection") {
    for (bool graceful : {true, false}) {
        CAPTURE(graceful);
        hostile_server server;
        server.push(after_request({send(login_link_ok()), read_request(), graceful ? close() : reset()}));
        asio::io_context ioc;
        auto cfg = with_retries(config_for(server));
        stripe_asio::client client(ioc, cfg);
        auto first = call_link(ioc, client, cfg);
        expect_own_link(first, server, 1);
        auto second = call_link(ioc, client, cfg);
        expect_own_link(second, server, 2);
        CHECK(second.link.meta.attempts == 2);
        auto requests = server.requests();
        REQUIRE(requests.size() == 3);
        CHECK(requests[1].connection == 1);
        CHECK(requests[2].connection == 2);
        // One call, one key, on both attempts.
        CHECK(requests[1].idempotency_key() == requests[2].idempotency_key());
        CHECK(requests[2].idempotency_key() == second.link.meta.idempotency_key.view());
    }
}

TEST_CASE("plaintext HTTP on the TLS port is a typed error") {
    const std::string clear_answer =
        ok_head + "Content-Length: " + std::to_string(static_link.size()) + "\r\n\r\n" + static_link;
    struct row {
        std::string name;
        script s;
    };
    std::vector<row> rows;
    rows.push_back(
        {"answers the ClientHello in clear", script{{plain(), read_some(), send(clear_answer), close()}, {}}});
    rows.push_back({"speaks first, in clear", script{{plain(), send(clear_answer), hang()}, {}}});
    for (auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(std::move(r.s));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::connection_error, errc::malformed_response});
        CHECK(server.requests().empty());
    }
}

TEST_CASE("a certificate that does not verify is refused, and not retried") {
    struct row {
        std::string name;
        const test_pki::server_identity& identity;
    };
    const row rows[] = {
        {"a name other than 127.0.0.1", pki().wrong_name()},
        {"expired", pki().expired()},
        {"not yet valid", pki().not_yet_valid()},
        {"self-signed", pki().self_signed()},
        {"under an intermediate nobody sends", pki().unsent_intermediate()},
        {"an RSA-1024 key", pki().weak_key()},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server(keep_alive(r.identity));
        asio::io_context ioc;
        auto cfg = with_retries(config_for(server));
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::tls_verification_failed});
        CAPTURE(o.diag.detail);
        CHECK(o.diag.attempts == 1);
        CHECK(server.connections_accepted() == 1);
        CHECK(server.requests().empty());
        auto conns = server.connections();
        REQUIRE(!conns.empty());
        CHECK_FALSE(conns[0].tls_established);
    }

    {
        std::string name = "a chain through an intermediate the server sends verifies";
        CAPTURE(name);
        hostile_server server(keep_alive(pki().via_sent_intermediate()));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_own_link(o, server, 1);
    }
}

TEST_CASE("a server that speaks only TLS 1.0 or 1.1 is refused before the request") {
    struct row {
        std::string name;
        tls_version min, max;
    };
    const row rows[] = {
        {"TLS 1.0 only", tls_version::tls1_0, tls_version::tls1_0},
        {"TLS 1.1 only", tls_version::tls1_1, tls_version::tls1_1},
        {"TLS 1.0 to 1.1", tls_version::tls1_0, tls_version::tls1_1},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        script s;
        s.steps = {tls_accept(pki().good(), r.min, r.max), read_request(), send(login_link_ok())};
        hostile_server server(std::move(s));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::connection_error});
        CHECK(server.requests().empty());
        auto conns = server.connections();
        REQUIRE(!conns.empty());
        CHECK_FALSE(conns[0].tls_established);
    }
}

TEST_CASE("redirects are not followed") {
    struct row {
        unsigned status;
        const char* reason;
    };
    const row rows[] = {
        {301, "Moved Permanently"}, {302, "Found"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"}};
    for (const auto& r : rows) {
        CAPTURE(r.status);
        hostile_server elsewhere;
        hostile_server server;
        answer_options to_elsewhere;
        to_elsewhere.extra_headers =
            "Location: " + elsewhere.base_url() + "/v1/accounts/" + account + "/login_links\r\n";
        // A link in the body too: nothing of a 3xx is a result.
        server.push(after_request({send(respond(r.status, r.reason, static_link, to_elsewhere)), hang()}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::api_error});
        CHECK(o.diag.http_status == r.status);
        CHECK(elsewhere.connections_accepted() == 0);
    }
}

TEST_CASE("a 2xx body that is not a valid login link is malformed_response") {
    auto with_url = [](std::string json_url) {
        return R"({"object":"login_link","created":1495580507,"url":")" + json_url + R"("})";
    };
    struct row {
        std::string name;
        std::string body;
    };
    const std::vector<row> rows = {
        {"not JSON", "<html><body>ok</body></html>"},
        {"a JSON array", "[" + static_link + "]"},
        {"no url", R"({"object":"login_link","created":1495580507})"},
        {"an http:// url", with_url("http://connect.stripe.com/express/abc")},
        {"a javascript: url", with_url("javascript:alert(1)")},
        {"a scheme-relative url", with_url("//evil.example/x")},
        {"a url with CR LF", with_url(R"(https://connect.stripe.com/express/abc\r\nSet-Cookie: a=b)")},
        {"a url with a space", with_url("https://connect.stripe.com/express/a b")},
        {"a url with a tab", with_url(R"(https://connect.stripe.com/express/a\tb)")},
        {"https:// and no host", with_url("https://")},
        {"https:// and a path but no host", with_url("https:///express/abc")},
        {"an empty url", with_url("")},
        {"object is not login_link",
         R"({"object":"account","created":1495580507,"url":"https://connect.stripe.com/x"})"},
        {"created is a string",
         R"({"object":"login_link","created":"1495580507","url":"https://connect.stripe.com/x"})"},
        {"created is a fraction",
         R"({"object":"login_link","created":1495580507.5,"url":"https://connect.stripe.com/x"})"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        hostile_server server;
        server.push(after_request({send(respond(200, "OK", r.body))}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_error(o, {errc::malformed_response});
        CHECK(o.diag.attempts == 1);
    }
}

TEST_CASE("what a server echoes is redacted, kept on one line and capped") {
    // The key in every field Stripe's error object has, and control characters in the message.
    const std::string error_body = R"({"error":{"type":"type_)" + secret + R"(","code":"code_)" + secret +
                                   R"(","decline_code":")" + secret + R"(","message":"bad key )" + secret +
                                   R"( used\nsecond line\r\n\u001b[31mred\u0007 bell","param":")" + secret +
                                   R"(","doc_url":"https://stripe.com/docs/)" + secret + R"("}})";
    answer_options echoing_request_id;
    echoing_request_id.request_id = "req_" + secret;

    auto one_line = [](const outcome& o) {
        std::string line = o.diag.to_string();
        CHECK_MESSAGE(line.find_first_of("\r\n\x1b\x07") == std::string::npos,
                      "to_string() holds a line break or control character: " << line.substr(0, 300));
    };

    SUBCASE("error statuses") {
        struct row {
            unsigned status;
            const char* reason;
            errc expected;
        };
        const row rows[] = {{400, "Bad Request", errc::invalid_request},
                            {402, "Payment Required", errc::card_error},
                            {500, "Internal Server Error", errc::api_error}};
        for (const auto& r : rows) {
            CAPTURE(r.status);
            hostile_server server;
            server.push(after_request({send(respond(r.status, r.reason, error_body, echoing_request_id))}));
            asio::io_context ioc;
            auto cfg = config_for(server);
            stripe_asio::client client(ioc, cfg);
            auto o = call_link(ioc, client, cfg);
            expect_error(o, {r.expected});
            CHECK(o.diag.http_status == r.status);
            one_line(o);
        }
    }

    SUBCASE("a 200 whose Request-Id holds the key") {
        hostile_server server(keep_alive(pki().good(), login_link_ok(echoing_request_id)));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        expect_own_link(o, server, 1);
    }

    SUBCASE("each field of a huge error is capped in to_string()") {
        const std::string huge(100 * KiB, 'm');
        for (std::string field : {"message", "type", "code", "decline_code", "param", "doc_url"}) {
            CAPTURE(field);
            // A duplicate key might be dropped: the huge field replaces the type, never joins it.
            std::string others = field == "type" ? "" : R"("type":"invalid_request_error",)";
            std::string body = R"({"error":{)" + others + "\"" + field + R"(":")" + huge + R"("}})";
            hostile_server server;
            server.push(after_request({send(respond(400, "Bad Request", body))}));
            asio::io_context ioc;
            auto cfg = config_for(server);
            stripe_asio::client client(ioc, cfg);
            auto o = call_link(ioc, client, cfg);
            expect_error(o, {errc::invalid_request});
            CHECK(o.diag.to_string().size() < 8 * KiB);
        }
    }

    SUBCASE("the default token's exception says nothing of the key") {
        hostile_server server;
        server.push(after_request({send(respond(400, "Bad Request", error_body, echoing_request_id))}));
        asio::io_context ioc;
        auto cfg = config_for(server);
        stripe_asio::client client(ioc, cfg);
        std::string what;
        std::string message;
        bool threw = false;
        asio::co_spawn(
            ioc,
            [](stripe_asio::client& c, std::string& what, std::string& message, bool& threw) -> asio::awaitable<void> {
                try {
                    co_await c.create_login_link(account);
                } catch (const stripe_asio::error_with_diagnostics& e) {
                    threw = true;
                    what = e.what();
                    message = e.get_diagnostics().message;
                }
            }(client, what, message, threw),
            [](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
            });
        ioc.run_for(bound_for(cfg) + 1s);
        REQUIRE(threw);
        CHECK_MESSAGE(what.find(secret) == std::string::npos, "what() holds the key: " << what.substr(0, 300));
        CHECK(message.find(secret) == std::string::npos);
        CHECK(what.find_first_of("\r\n\x1b\x07") == std::string::npos);
    }
}

TEST_CASE("an answer carrying another Idempotency-Key is a connection_error, and retryable") {
    answer_options foreign_key;
    foreign_key.idempotency_key = "a-key-this-call-never-sent";
    for (bool retries : {false, true}) {
        CAPTURE(retries);
        hostile_server server;
        server.push(after_request({send(login_link_ok(foreign_key))}));
        asio::io_context ioc;
        auto cfg = retries ? with_retries(config_for(server)) : config_for(server);
        stripe_asio::client client(ioc, cfg);
        auto o = call_link(ioc, client, cfg);
        if (retries) {
            expect_own_link(o, server, 2);
            CHECK(o.link.meta.attempts == 2);
        } else {
            expect_error(o, {errc::connection_error});
            CHECK(o.diag.attempts == 1);
            REQUIRE(o.diag.failed_attempts.size() == 1);
            CHECK(o.diag.failed_attempts[0].ec == errc::connection_error);
        }
    }
}

} // TEST_SUITE("hostile")
