// The fake Stripe server's I/O (see server.hpp): the acceptor, TLS, each connection's loop of
// reading a request and sending what the rules decided, and the fault actions played on the
// connection (close, reset, hang, delay, truncation, oversized bodies, stray bytes).
#include "server.hpp"

#include "certificates.hpp"
#include "stripe_errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <set>
#include <tuple>

#include <unistd.h>

namespace stripe_asio::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace http = beast::http;
using tcp = asio::ip::tcp;
using detail::reply;
using detail::request;

/// Takes the header field `name` (as write_head spells it) out of a response's bytes.
void remove_field(std::string& response, std::string_view name) {
    const std::string line_start = "\r\n" + std::string(name) + ":";
    const std::size_t head_end = response.find("\r\n\r\n");
    const std::size_t at = response.find(line_start);
    if (at == std::string::npos || at >= head_end) return;
    response.erase(at, response.find("\r\n", at + 2) - at);
}

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit = 16 * 1024;
constexpr std::size_t body_limit = 64 * 1024;
constexpr std::size_t first_read_size = 16 * 1024;

/// Offer HTTP/1.1 when the client uses ALPN (curl offers h2 first), otherwise stay silent.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                  void*) {
    static const unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

struct fake_stripe::impl::connection {
    connection(impl& server, std::uint64_t id, tcp::socket socket)
        : id(id), stream(std::move(socket), server.ssl), idle_timer(stream.get_executor()),
          delay_timer(stream.get_executor()), write_done(stream.get_executor()) {}

    /// An abortive close: SO_LINGER 0 makes the kernel send RST instead of FIN.
    void reset() {
        if (closed) return;
        closed = true;
        boost::system::error_code ignored;
        stream.next_layer().set_option(tcp::socket::linger(true, 0), ignored);
        stream.next_layer().close(ignored);
        idle_timer.cancel();
        delay_timer.cancel();
        write_done.cancel();
        for (auto* t : stray_timers) t->cancel();
    }

    /// Plain TCP close (no close_notify): pending operations finish with an error.
    void close() {
        if (closed) return;
        closed = true;
        boost::system::error_code ignored;
        stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
        stream.next_layer().close(ignored);
        idle_timer.cancel();
        delay_timer.cancel();
        write_done.cancel();
        for (auto* t : stray_timers) t->cancel();
    }

    /// A write begins: later writes wait until end_write(), so two never interleave.
    void begin_write() {
        writing = true;
        write_done.expires_at(std::chrono::steady_clock::time_point::max());
    }
    void end_write() {
        writing = false;
        write_done.cancel();
    }

    std::uint64_t id;
    beast::ssl_stream<tcp::socket> stream;
    asio::steady_timer idle_timer;
    asio::steady_timer delay_timer;
    asio::steady_timer write_done; // set while a write is in progress; cancelled when it ends
    bool writing = false; // a write is in progress: the next waits, so two never interleave
    std::set<asio::steady_timer*> stray_timers; // the waits of late strays, for close()
    std::string held_stray; // stray_before_next_answer: sent just before the next answer
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    reply outgoing; // the answer being sent, kept for its strings' capacity
    std::string out; // the response bytes being sent
    std::string stray; // what duplicate_response / trailing_garbage add to an answer
    std::size_t sent = 0; // bytes the last send() wrote
    // A stray copy or junk went out in a write of its own: the client may already have taken
    // it for the next answer, so every answer after it on this connection is out of step.
    bool stray_sent = false;
    std::size_t served = 0;
    std::uint64_t idle_generation = 0;
    bool waiting = false; // between requests: nothing of the next one has arrived
    bool close_at_idle = false; // close_idle_connections() came while it was busy
    bool closed = false;
};

void fake_stripe::impl::start() {
    std::string cert_pem = opts.cert_pem;
    std::string key_pem = opts.key_pem;
    if (cert_pem.empty() || key_pem.empty()) {
        auto pki = detail::make_pki(opts.certificate_names);
        ca_pem = std::move(pki.ca_pem);
        cert_pem = std::move(pki.cert_pem);
        key_pem = std::move(pki.key_pem);
    }

    SSL_CTX* ctx = ssl.native_handle();
    ssl.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    detail::check_openssl(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "TLS 1.2 minimum");
    ssl.use_certificate_chain(asio::buffer(cert_pem));
    ssl.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
    // Session resumption: the server-side session cache and tickets are OpenSSL's defaults; a
    // session id context keeps cached sessions usable whatever the verify mode.
    static const unsigned char session_context[] = "stripe-asio fake_stripe";
    detail::check_openssl(SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1),
                          "session id context");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    // OpenSSL keeps 20,480 sessions by default (megabytes); a soak test opening thousands of
    // connections would see the server's memory grow for a long while.
    SSL_CTX_sess_set_cache_size(ctx, 1024);
    SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);

    auto address = asio::ip::make_address(opts.listen_address);
    tcp::endpoint endpoint(address, opts.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();

    std::string host;
    if (address.is_unspecified()) host = address.is_v4() ? "127.0.0.1" : "[::1]";
    else if (address.is_v6()) host = "[" + address.to_string() + "]";
    else host = address.to_string();
    base_url = "https://" + host + ":" + std::to_string(port);

    stripe.emplace(detail::rules::settings{.api_key = opts.api_key,
                                           .base_url = base_url,
                                           .idempotency_capacity = opts.idempotency_capacity,
                                           .random_faults = opts.random_faults,
                                           .rate_limits = opts.rate_limits});

    if (!ca_pem.empty()) ca_file = detail::write_temp_file(ca_pem);

    asio::co_spawn(ioc, accept_loop(), asio::detached);
    try {
        thread = std::thread([this] {
            for (;;) {
                try {
                    ioc.run();
                    return;
                } catch (...) {
                    // A handler threw outside a connection; keep serving the others.
                }
            }
        });
    } catch (...) {
        if (!ca_file.empty()) ::unlink(ca_file.c_str());
        throw;
    }
}

void fake_stripe::impl::shutdown() {
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (connection* c : connections) c->close();
}

void fake_stripe::impl::close_idle() {
    // A connection still finishing an answer closes as soon as it is idle, before reading
    // anything more: to its client, exactly like one closed while idle.
    for (connection* c : connections) {
        if (c->waiting) {
            c->close();
        } else if (!c->close_at_idle && !c->closed) {
            c->close_at_idle = true;
            closing_at_idle.fetch_add(1);
        }
    }
}

void fake_stripe::impl::settle_changed() {
    if (settle_watchers.load() == 0) return;
    std::lock_guard lock(settle_mutex);
    settle_cv.notify_all();
}
asio::awaitable<void> fake_stripe::impl::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (stopping) co_return;
        if (ec) {
            if (!acceptor.is_open()) co_return;
            // Out of descriptors or similar: back off instead of spinning.
            asio::steady_timer pause(ioc, std::chrono::milliseconds(10));
            co_await pause.async_wait(nothrow);
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);

        auto c = std::make_shared<connection>(*this, accepted.fetch_add(1) + 1, std::move(socket));
        connections.insert(c.get());
        std::size_t now_open = open.fetch_add(1) + 1;
        std::size_t seen = peak.load();
        while (now_open > seen && !peak.compare_exchange_weak(seen, now_open)) {
        }
        asio::co_spawn(ioc, run_connection(std::move(c)), asio::detached);
    }
}

asio::awaitable<void> fake_stripe::impl::run_connection(std::shared_ptr<connection> self) {
    // Runs also when the frame is destroyed unfinished (io_context torn down).
    struct deregister {
        impl& server;
        connection* c;
        ~deregister() {
            if (c->close_at_idle) server.closing_at_idle.fetch_sub(1);
            server.connections.erase(c);
            server.open.fetch_sub(1);
            server.settle_changed();
        }
    } guard{*this, self.get()};
    try {
        co_await converse(self);
    } catch (const std::exception&) {
        // Allocation failure or similar: drop this connection only.
    }
    self->close();
}

void fake_stripe::impl::arm_idle(const std::shared_ptr<connection>& c) {
    if (opts.idle_timeout.count() <= 0) return;
    c->idle_timer.expires_after(opts.idle_timeout);
    c->idle_timer.async_wait([c, generation = c->idle_generation](boost::system::error_code ec) {
        // The generation check ignores an expiry that raced with the read completing.
        if (!ec && c->idle_generation == generation) c->close();
    });
}

void fake_stripe::impl::disarm_idle(connection& c) {
    ++c.idle_generation;
    if (opts.idle_timeout.count() > 0) c.idle_timer.cancel();
}

asio::awaitable<void> fake_stripe::impl::converse(const std::shared_ptr<connection>& self) {
    connection& c = *self;
    arm_idle(self);
    auto [handshake_ec] = co_await c.stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    disarm_idle(c);
    if (handshake_ec || c.closed) co_return;

    for (;;) {
        if (c.buffer.size() == 0) {
            // Idle between requests: this is where the idle timeout and close_idle_connections()
            // apply. A request counts as started once its first byte has arrived.
            if (c.close_at_idle) co_return;
            c.waiting = true;
            waiting_now.fetch_add(1);
            settle_changed();
            arm_idle(self);
            auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(first_read_size), nothrow);
            c.waiting = false;
            waiting_now.fetch_sub(1);
            disarm_idle(c);
            if (ec || c.closed) co_return;
            c.buffer.commit(n);
        }

        c.parser.emplace();
        c.parser->header_limit(header_limit);
        c.parser->body_limit(body_limit);
        auto [ec, n] = co_await http::async_read_header(c.stream, c.buffer, *c.parser, nothrow);
        if (!ec && !c.parser->is_done()) {
            if (beast::iequals(c.parser->get()[http::field::expect], "100-continue")) {
                static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
                auto [wec, wn] =
                    co_await asio::async_write(c.stream, asio::buffer(go_on.data(), go_on.size()), nothrow);
                if (wec) co_return;
            }
            std::tie(ec, n) = co_await http::async_read(c.stream, c.buffer, *c.parser, nothrow);
        }
        if (c.closed) co_return;

        if (ec) {
            // Limits and malformed requests get an answer and a close; transport errors and a
            // client that went away mid-request just end the connection.
            unsigned status;
            if (ec == http::error::body_limit || ec == http::error::header_limit) status = 413;
            else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                     ec != http::error::end_of_stream && ec != http::error::partial_message)
                status = 400;
            else co_return;
            const request& req = c.parser->get();
            if (opts.record_requests && c.parser->is_header_done()) record(c, req, status, false);
            reply& r = c.outgoing;
            r.clear();
            r.status = status;
            r.keep_alive = false;
            r.body = status == 413
                         ? detail::error_json("invalid_request_error", {},
                                              "Request too large: headers are limited to 16 KiB and "
                                              "bodies to 64 KiB.")
                         : detail::error_json("invalid_request_error", {}, "Malformed HTTP request: " + ec.message());
            write_head(c, req, r, r.body.size());
            c.out += r.body;
            co_await send(c);
            co_return;
        }

        if (!co_await answer(self) || c.closed) co_return;
    }
}

asio::awaitable<void> fake_stripe::impl::wait_to_write(connection& c) {
    while (c.writing && !c.closed) co_await c.write_done.async_wait(nothrow);
}

asio::awaitable<void> fake_stripe::impl::send_stray_later(std::shared_ptr<connection> self, std::string stray,
                                                          std::chrono::milliseconds after) {
    connection& c = *self;
    if (c.closed) co_return;
    asio::steady_timer wait(c.stream.get_executor(), after); // each late stray its own
    struct listed { // in close()'s reach while it exists, also when the frame is destroyed unfinished
        std::set<asio::steady_timer*>& timers;
        asio::steady_timer* timer;
        ~listed() { timers.erase(timer); }
    } listing{c.stray_timers, &wait};
    c.stray_timers.insert(&wait);
    co_await wait.async_wait(nothrow);
    co_await wait_to_write(c);
    if (c.closed) co_return;
    c.begin_write();
    co_await asio::async_write(c.stream, asio::buffer(stray), nothrow);
    c.end_write();
}

asio::awaitable<bool> fake_stripe::impl::send(connection& c) {
    co_await wait_to_write(c);
    c.begin_write();
    auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(c.out), nothrow);
    c.end_write();
    c.sent = n;
    // An oversized answer should not pin megabytes to a long-lived connection.
    if (c.out.capacity() > 1024 * 1024) {
        std::string().swap(c.out);
        std::string().swap(c.outgoing.body);
    }
    co_return !ec;
}

asio::awaitable<bool> fake_stripe::impl::send_oversized(connection& c, const request& req, const reply& r) {
    // Valid JSON when it is big enough to be, so only a size limit can catch it. Streamed from a
    // static filler: megabytes allocated and freed per fault would leave the server's heap
    // fragmented, and a soak test's memory readings with it.
    constexpr std::string_view head = R"({"object":"login_link","url":")";
    const std::size_t n = r.oversized_bytes;
    const std::string_view prefix = head.substr(0, std::min(n, head.size()));
    const std::string_view suffix = n >= head.size() + 2 ? "\"}" : "";
    std::size_t filler = n - prefix.size() - suffix.size();

    write_head(c, req, r, n);
    c.out.append(prefix);
    if (!co_await send(c)) co_return false;
    static const std::string filler_block(16 * 1024, 'a');
    while (filler > 0) {
        const std::size_t piece = std::min(filler, filler_block.size());
        auto [ec, sent] = co_await asio::async_write(c.stream, asio::buffer(filler_block.data(), piece), nothrow);
        if (ec) co_return false;
        filler -= piece;
    }
    c.out.assign(suffix);
    co_return co_await send(c);
}

asio::awaitable<void> fake_stripe::impl::hang(const std::shared_ptr<connection>& self,
                                              std::chrono::milliseconds hang_for) {
    connection& c = *self;
    if (hang_for.count() > 0) {
        // The handler holds the connection, so it may outlive this frame; close() cancels it.
        c.delay_timer.expires_after(hang_for);
        c.delay_timer.async_wait([this, self](boost::system::error_code ec) {
            if (!ec && !self->closed) {
                hangs_expired.fetch_add(1);
                self->close();
            }
        });
    }
    // Never answer, but keep a read pending so that a client giving up frees the connection.
    char sink[512];
    while (!c.closed) {
        auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), nothrow);
        if (ec) break;
    }
}

asio::awaitable<bool> fake_stripe::impl::answer(const std::shared_ptr<connection>& self) {
    connection& c = *self;
    const request& req = c.parser->get();
    ++c.served;
    if (!c.held_stray.empty()) { // a stray held for this moment: the client has written its request
        c.stray_sent = true;
        c.out.swap(c.held_stray);
        c.held_stray.clear();
        if (!co_await send(c)) co_return false;
    }
    reply& r = c.outgoing;
    stripe->decide(req, r);
    r.keep_alive = r.keep_alive && req.keep_alive() &&
                   (opts.max_requests_per_connection == 0 || c.served < opts.max_requests_per_connection);

    if (opts.record_requests) {
        bool silent = r.what == fault::action::close_before_response || r.what == fault::action::hang ||
                      r.what == fault::action::reset;
        record(c, req, silent ? 0 : r.status, r.replayed);
    }

    if (r.delay.count() > 0) {
        if (c.closed) co_return false;
        c.delay_timer.expires_after(r.delay);
        co_await c.delay_timer.async_wait(nothrow);
        if (c.closed) // stop() cancelled the wait
            co_return false;
    }

    switch (r.what) {
    case fault::action::close_before_response: co_return false;
    case fault::action::reset: c.reset(); co_return false;
    case fault::action::hang: co_await hang(self, r.hang_for); co_return false;
    case fault::action::close_mid_headers:
        c.out = "HTTP/1.1 200 OK\r\nContent-Type: appl";
        co_await send(c);
        co_return false;
    case fault::action::oversized_body: co_return co_await send_oversized(c, req, r) && r.keep_alive;
    case fault::action::truncated_body:
        write_head(c, req, r, r.body.size());
        c.out.append(r.body, 0, r.body.size() / 2);
        co_await send(c);
        co_return false;
    default: {
        write_head(c, req, r, r.body.size());
        c.out += r.body;
        const std::size_t answer_size = c.out.size();
        const bool stray_copy = r.what == fault::action::duplicate_response;
        c.stray.clear();
        if (stray_copy) {
            c.stray = c.out;
            if (r.stray_without_key) remove_field(c.stray, "Idempotency-Key");
        } else if (r.what == fault::action::unasked_answer) {
            write_unasked_answer(c.stray);
        } else if (r.what == fault::action::trailing_garbage) {
            // Not HTTP, with a TLS-record-like start and a NUL, where a next response would begin.
            static constexpr char junk[] = "\x16\x03\x01garbage after the response\0\xff\r\n";
            c.stray.assign(junk, sizeof junk - 1);
        }

        // Counted before the write, so that a client that has read the answer finds it counted.
        // A stray copy is never in step: the client asked for one answer.
        const bool behind = c.stray_sent;
        const long in_step = r.intact && !behind ? 1 : 0;
        const long out_of_step = r.intact ? (behind ? 1 : 0) + (stray_copy ? 1 : 0) : 0;
        if (r.intact) stripe->idempotency().count_delivered(r.delivery_key, in_step, out_of_step);

        std::size_t answer_sent = 0, stray_sent = 0;
        bool ok;
        if (!c.stray.empty() && (r.stray_before_next_answer || r.stray_delay.count() > 0)) {
            // Counted as sent: a copy that never goes out (the connection closed first) is
            // over-counted, which only the scripted tests that ask for it can see.
            ok = co_await send(c);
            answer_sent = c.sent;
            stray_sent = answer_size;
            if (!ok) {
            } else if (r.stray_before_next_answer) {
                c.held_stray.swap(c.stray);
            } else {
                c.stray_sent = true;
                asio::co_spawn(c.stream.get_executor(), send_stray_later(self, std::move(c.stray), r.stray_delay),
                               asio::detached);
            }
        } else if (!r.stray_separate || c.stray.empty()) {
            // In the same write: a client that reads the answer finds the stray bytes with it.
            c.out += c.stray;
            ok = co_await send(c);
            answer_sent = std::min(c.sent, answer_size);
            stray_sent = c.sent - answer_sent;
        } else {
            ok = co_await send(c);
            answer_sent = c.sent;
            if (ok) {
                c.stray_sent = true;
                c.out.swap(c.stray);
                ok = co_await send(c);
                stray_sent = c.sent;
            }
        }
        if (r.intact) {
            const bool answer_whole = answer_sent == answer_size;
            const bool copy_whole = stray_copy && stray_sent == answer_size;
            const long lost_in_step = in_step && !answer_whole ? 1 : 0;
            const long lost_out_of_step = (behind && !answer_whole ? 1 : 0) + (stray_copy && !copy_whole ? 1 : 0);
            if (lost_in_step || lost_out_of_step)
                stripe->idempotency().count_delivered(r.delivery_key, -lost_in_step, -lost_out_of_step);
        }
        co_return ok&& r.keep_alive;
    }
    }
}

void fake_stripe::impl::write_unasked_answer(std::string& out) {
    const std::string body = detail::error_json("card_error", "card_declined", "Your card was declined.");
    out.assign("HTTP/1.1 402 Payment Required\r\nServer: fake_stripe\r\nContent-Type: application/json\r\n");
    out.append("Content-Length: ");
    detail::append_number(out, body.size());
    out.append("\r\nRequest-Id: req_");
    char id[14];
    request_ids.fill(id, sizeof id);
    out.append(id, sizeof id).append("\r\n\r\n").append(body);
}

void fake_stripe::impl::write_head(connection& c, const request& req, const reply& r, std::size_t length) {
    bool own_content_type = false;
    bool own_connection = false;
    for (const auto& [name, value] : r.extra_headers) {
        own_content_type = own_content_type || beast::iequals(name, "Content-Type");
        own_connection = own_connection || beast::iequals(name, "Connection");
    }

    std::string& o = c.out;
    o.assign("HTTP/1.1 ");
    detail::append_number(o, r.status);
    o.push_back(' ');
    std::string_view reason = http::obsolete_reason(static_cast<http::status>(r.status));
    o.append(reason.empty() || reason.starts_with('<') ? std::string_view("Status") : reason);
    o.append("\r\nServer: fake_stripe\r\n");
    if (!own_content_type) o.append("Content-Type: ").append(r.content_type).append("\r\n");
    o.append("Content-Length: ");
    detail::append_number(o, length);
    o.append("\r\nRequest-Id: req_");
    char id[14];
    request_ids.fill(id, sizeof id);
    o.append(id, sizeof id).append("\r\n");
    if (auto v = req["Stripe-Version"]; !v.empty() && detail::safe_header_value(v))
        o.append("Stripe-Version: ").append(v).append("\r\n");
    // Echoed on the answer to every request that sent one, as Stripe does.
    if (auto v = req["Idempotency-Key"];
        opts.echo_idempotency_key && !v.empty() && v.size() <= 255 && detail::safe_header_value(v))
        o.append("Idempotency-Key: ").append(v).append("\r\n");
    if (r.replayed) o.append("Idempotent-Replayed: true\r\n");
    for (const auto& [name, value] : r.extra_headers) {
        if (beast::iequals(name, "Content-Length")) continue; // the length is always the real one
        o.append(name).append(": ").append(value).append("\r\n");
    }
    if (!own_connection) {
        if (!r.keep_alive) o.append("Connection: close\r\n");
        else if (req.version() == 10) o.append("Connection: keep-alive\r\n");
    }
    o.append("\r\n");
}

void fake_stripe::impl::record(const connection& c, const request& req, unsigned status, bool replayed) {
    received_request rr;
    rr.method = std::string(req.method_string());
    rr.target = std::string(req.target());
    rr.body = req.body();
    for (const auto& field : req) rr.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    rr.connection_id = c.id;
    rr.status = status;
    rr.replayed = replayed;
    std::lock_guard lock(recorded_mutex);
    recorded.push_back(std::move(rr));
}

} // namespace stripe_asio::testing
