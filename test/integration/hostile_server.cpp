// The hostile server: one io_context on its own thread, one coroutine per connection running
// that connection's script. TLS goes through memory BIOs, the bytes moved by Asio, so the
// server decides every byte on the wire and writes never raise SIGPIPE.
//
// Everything touching sockets runs on the server thread. The test thread takes `mutex` for the
// script queue and the records, and posts to the server thread to stop it.
#include "integration/hostile_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>

namespace hostile {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t max_request_head = 64 * 1024;
constexpr std::size_t max_request_body = 1024 * 1024;
constexpr std::size_t tls_write_piece = 16 * 1024; // one TLS record's worth per SSL_write
constexpr std::size_t stream_block = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::atomic<std::uint64_t> serial{1};

/// Unique in this process, and unlike any other run's (so no url can match by chance).
std::string fresh_token() {
    static const std::uint32_t run = std::random_device{}();
    char run_hex[9];
    std::snprintf(run_hex, sizeof run_hex, "%08x", run);
    return "hostile" + std::to_string(serial.fetch_add(1)) + "x" + run_hex;
}

std::string openssl_reason() {
    char reason[256] = "unknown TLS error";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return reason;
}

int openssl_version(tls_version v) {
    switch (v) {
    case tls_version::tls1_0: return TLS1_VERSION;
    case tls_version::tls1_1: return TLS1_1_VERSION;
    case tls_version::tls1_2: return TLS1_2_VERSION;
    case tls_version::tls1_3: return TLS1_3_VERSION;
    }
    return 0;
}

std::string frame(unsigned status, std::string_view reason, std::string_view body, const answer_options& o,
                  const answer_context& ctx) {
    std::string out = o.version + " " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    out += "Content-Type: application/json\r\n";
    out += "Request-Id: " + (o.request_id ? *o.request_id : "req_" + fresh_token()) + "\r\n";
    if (o.idempotency_key) {
        out += "Idempotency-Key: " + *o.idempotency_key + "\r\n";
    } else if (std::string key = ctx.idempotency_key(); o.echo_idempotency_key && !key.empty()) {
        out += "Idempotency-Key: " + key + "\r\n";
    }
    if (o.connection_close) out += "Connection: close\r\n";
    out += o.extra_headers;
    switch (o.frame) {
    case answer_options::framing::content_length:
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
        out += body;
        break;
    case answer_options::framing::chunked:
        out += "Transfer-Encoding: chunked\r\n\r\n";
        out += chunked(body, o.chunk_size);
        break;
    case answer_options::framing::until_close:
        out += "\r\n";
        out += body;
        break;
    }
    return out;
}

} // namespace

// -------------------------------------------------------------------------------------------------
// Records and answers

std::string received_request::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (iequals(n, name)) return v;
    return {};
}

std::string answer_context::new_link_url() {
    std::string url = "https://connect.stripe.com/express/" + fresh_token();
    if (record_url_) record_url_(url);
    return url;
}

std::string login_link_json(std::string_view url, std::int64_t created) {
    return R"({"object":"login_link","created":)" + std::to_string(created) + R"(,"url":")" + std::string(url) +
           R"("})";
}

std::string chunked(std::string_view body, std::size_t length) {
    std::string out;
    length = std::max<std::size_t>(length, 1);
    char size[20];
    for (std::size_t at = 0; at < body.size(); at += length) {
        std::string_view piece = body.substr(at, length);
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        out += size;
        out += piece;
        out += "\r\n";
    }
    out += "0\r\n\r\n";
    return out;
}

answer login_link_ok(answer_options options) {
    return [options = std::move(options)](answer_context& ctx) {
        return frame(200, "OK", login_link_json(ctx.new_link_url()), options, ctx);
    };
}

answer respond(unsigned status, std::string reason, std::string body, answer_options options) {
    return [=](answer_context& ctx) { return frame(status, reason, body, options, ctx); };
}

answer raw(std::string bytes) {
    return [bytes = std::move(bytes)](answer_context&) { return bytes; };
}

answer followed_by(answer first, std::string more) {
    return [first = std::move(first), more = std::move(more)](answer_context& ctx) { return first(ctx) + more; };
}

answer preceded_by(std::string more, answer last) {
    return [more = std::move(more), last = std::move(last)](answer_context& ctx) { return more + last(ctx); };
}

answer twice(answer a) {
    return [a = std::move(a)](answer_context& ctx) {
        std::string once = a(ctx);
        return once + once;
    };
}

// -------------------------------------------------------------------------------------------------
// Steps

step tls_accept(const test_pki::server_identity& identity, tls_version min, tls_version max) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) throw std::runtime_error("hostile: SSL_CTX_new: " + openssl_reason());
    step s;
    s.what = step::kind::tls_accept;
    s.tls = std::shared_ptr<void>(ctx, [](void* p) { SSL_CTX_free(static_cast<SSL_CTX*>(p)); });
    // Level 0: the server presents whatever the test asks for (a weak key, TLS 1.0); judging it
    // is the client's job.
    SSL_CTX_set_security_level(ctx, 0);
    if (!SSL_CTX_set_min_proto_version(ctx, openssl_version(min)) ||
        !SSL_CTX_set_max_proto_version(ctx, openssl_version(max)))
        throw std::runtime_error("hostile: TLS versions: " + openssl_reason());

    std::unique_ptr<BIO, decltype(&BIO_free)> pem(
        BIO_new_mem_buf(identity.chain_pem.data(), static_cast<int>(identity.chain_pem.size())), &BIO_free);
    X509* leaf = PEM_read_bio_X509(pem.get(), nullptr, nullptr, nullptr);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
        X509_free(leaf);
        throw std::runtime_error("hostile: server certificate: " + openssl_reason());
    }
    X509_free(leaf);
    // The rest of the chain is sent after the leaf, in order.
    while (X509* extra = PEM_read_bio_X509(pem.get(), nullptr, nullptr, nullptr)) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            throw std::runtime_error("hostile: chain certificate: " + openssl_reason());
        }
    }
    ERR_clear_error(); // the end of the PEM text reads as an error

    std::unique_ptr<BIO, decltype(&BIO_free)> key_pem(
        BIO_new_mem_buf(identity.key_pem.data(), static_cast<int>(identity.key_pem.size())), &BIO_free);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_pem.get(), nullptr, nullptr, nullptr);
    if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        EVP_PKEY_free(key);
        throw std::runtime_error("hostile: server key: " + openssl_reason());
    }
    EVP_PKEY_free(key);
    return s;
}

namespace {
step of_kind(step::kind k) {
    step s;
    s.what = k;
    return s;
}
} // namespace

step plain() { return of_kind(step::kind::plain); }
step read_request() { return of_kind(step::kind::read_request); }
step read_some() { return of_kind(step::kind::read_some); }
step close() { return of_kind(step::kind::close); }
step close_without_notify() { return of_kind(step::kind::close_without_notify); }
step reset() { return of_kind(step::kind::reset); }
step hang() { return of_kind(step::kind::hang); }
step close_during_handshake() { return of_kind(step::kind::close_during_handshake); }

step send(answer a) {
    step s = of_kind(step::kind::send);
    s.make = std::move(a);
    return s;
}

step send(std::string bytes) { return send(raw(std::move(bytes))); }

step send_slowly(answer a, std::chrono::milliseconds per_byte) {
    step s = of_kind(step::kind::send_slowly);
    s.make = std::move(a);
    s.pause = per_byte;
    return s;
}

step stream(std::string head, std::string unit, std::uint64_t unit_bytes, std::string tail) {
    step s = of_kind(step::kind::stream);
    if (unit.empty() && unit_bytes > 0) throw std::invalid_argument("hostile: stream of an empty unit");
    s.head = std::move(head);
    s.unit = std::move(unit);
    s.unit_bytes = unit_bytes;
    s.tail = std::move(tail);
    return s;
}

step delay(std::chrono::milliseconds d) {
    step s = of_kind(step::kind::delay);
    s.pause = d;
    return s;
}

step resend_answer(std::size_t n) {
    step s = of_kind(step::kind::resend_answer);
    s.answer_index = n;
    return s;
}

script keep_alive(const test_pki::server_identity& identity, answer reply) {
    script s;
    s.steps = {tls_accept(identity), read_request(), send(std::move(reply))};
    s.loop_from = 1;
    return s;
}

// -------------------------------------------------------------------------------------------------
// The server

struct hostile_server::impl {
    /// A connection being served; lives in its coroutine's frame.
    struct live {
        live(tcp::socket s, std::size_t i) : socket(std::move(s)), timer(socket.get_executor()), index(i) {}
        ~live() {
            if (ssl) SSL_free(ssl); // frees the BIOs too
        }
        live(const live&) = delete;
        live& operator=(const live&) = delete;

        tcp::socket socket;
        asio::steady_timer timer; // delay, send_slowly, hang
        std::size_t index;
        SSL* ssl = nullptr;
        BIO* in = nullptr; // ciphertext from the peer, for OpenSSL
        BIO* out = nullptr; // ciphertext from OpenSSL, for the peer
        std::string inbox; // bytes received (decrypted) and not yet consumed
        std::vector<std::string> answers;
        std::optional<received_request> last_request;
        std::size_t last_request_slot = 0; // in impl::requests
        std::string detail; // the TLS library's words for the last failure
        std::array<char, 32 * 1024> wire_in{}, wire_out{}, clear{};
    };

    enum class outcome { next, end };

    explicit impl(script s) : fallback(std::move(s)) {}

    script fallback;

    // Shared with the test thread.
    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    std::deque<script> queue;
    std::vector<received_request> requests;
    std::vector<connection_record> records;

    // Server thread only.
    std::unordered_set<live*> open;
    bool stopping = false;

    // After everything the coroutines touch: destroying the io_context destroys frames still
    // pending, whose cleanup must find the members above alive.
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    unsigned short port = 0;
    std::thread thread;
    std::once_flag stop_once;

    void start();
    void shutdown();

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(std::unique_ptr<live> c, script s);
    asio::awaitable<outcome> run(live& c, const step& st);

    // Transport: plain TCP or TLS, whichever the connection is in.
    asio::awaitable<error_code> flush(live& c);
    asio::awaitable<error_code> fill(live& c);
    template <class Op>
    asio::awaitable<std::pair<error_code, int>> drive(live& c, Op op);
    asio::awaitable<error_code> receive(live& c);
    asio::awaitable<error_code> transmit(live& c, std::string_view data);
    asio::awaitable<void> drain(live& c);
    asio::awaitable<bool> pause(live& c, std::chrono::steady_clock::time_point until);

    asio::awaitable<outcome> handshake(live& c, const step& st);
    asio::awaitable<outcome> read_one_request(live& c);
    asio::awaitable<outcome> send_answer(live& c, const step& st);

    template <class F>
    void update(const live& c, F&& f) {
        {
            std::lock_guard lock(mutex);
            f(records.at(c.index - 1));
        }
        changed.notify_all();
    }
    void note_failure(live& c, std::string_view what, const error_code& ec) {
        std::string why = std::string(what) + ": " + (c.detail.empty() ? ec.message() : c.detail);
        c.detail.clear();
        update(c, [&](connection_record& r) {
            if (r.failure.empty()) r.failure = why;
        });
    }
};

void hostile_server::impl::start() {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(endpoint.protocol());
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();
    asio::co_spawn(ioc, accept_loop(), asio::detached);
    thread = std::thread([this] {
        for (;;) {
            try {
                ioc.run();
                return;
            } catch (...) {
                // A handler threw outside a connection's own handling; keep serving the rest.
            }
        }
    });
}

void hostile_server::impl::shutdown() {
    stopping = true;
    error_code ignored;
    acceptor.close(ignored);
    for (live* c : open) {
        c->timer.cancel();
        c->socket.close(ignored);
    }
}

asio::awaitable<void> hostile_server::impl::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (stopping || !acceptor.is_open()) co_return;
        if (ec) continue;
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        script s;
        std::size_t index;
        {
            std::lock_guard lock(mutex);
            if (queue.empty()) {
                s = fallback;
            } else {
                s = std::move(queue.front());
                queue.pop_front();
            }
            records.emplace_back();
            index = records.size();
            records.back().index = index;
        }
        changed.notify_all();
        asio::co_spawn(ioc, serve(std::make_unique<live>(std::move(socket), index), std::move(s)), asio::detached);
    }
}

asio::awaitable<void> hostile_server::impl::serve(std::unique_ptr<live> owned, script s) {
    live& c = *owned;
    open.insert(&c);
    // Runs also when the frame is destroyed unfinished (the io_context torn down).
    struct deregister {
        impl& server;
        live& c;
        ~deregister() {
            server.open.erase(&c);
            server.update(c, [](connection_record& r) { r.finished = true; });
        }
    } guard{*this, c};

    try {
        bool ended = false;
        for (std::size_t i = 0; !stopping;) {
            if (i == s.steps.size()) {
                if (!s.loop_from || *s.loop_from >= s.steps.size()) break;
                i = *s.loop_from;
            }
            outcome o = co_await run(c, s.steps[i]);
            if (o == outcome::end) {
                ended = true;
                break;
            }
            update(c, [](connection_record& r) { ++r.steps_done; });
            ++i;
        }
        // The script ran out without closing: stay open until the client closes.
        if (!ended && !stopping) co_await drain(c);
    } catch (const std::exception& e) {
        update(c, [&](connection_record& r) {
            if (r.failure.empty()) r.failure = std::string("exception: ") + e.what();
        });
    }
    error_code ignored;
    c.socket.close(ignored);
}

asio::awaitable<hostile_server::impl::outcome> hostile_server::impl::run(live& c, const step& st) {
    error_code ignored;
    switch (st.what) {
    case step::kind::tls_accept: co_return co_await handshake(c, st);
    case step::kind::plain:
        if (c.ssl) {
            SSL_free(c.ssl);
            c.ssl = nullptr;
            c.in = c.out = nullptr;
        }
        co_return outcome::next;
    case step::kind::read_request: co_return co_await read_one_request(c);
    case step::kind::read_some: {
        error_code ec = co_await receive(c);
        c.inbox.clear();
        if (ec) {
            note_failure(c, "read_some", ec);
            co_return outcome::end;
        }
        co_return outcome::next;
    }
    case step::kind::send:
    case step::kind::send_slowly: co_return co_await send_answer(c, st);
    case step::kind::resend_answer: {
        if (st.answer_index >= c.answers.size()) {
            note_failure(c, "resend_answer", make_error_code(boost::system::errc::invalid_argument));
            co_return outcome::end;
        }
        std::string bytes = c.answers[st.answer_index];
        error_code ec = co_await transmit(c, bytes);
        if (ec) {
            note_failure(c, "resend_answer", ec);
            co_return outcome::end;
        }
        co_return outcome::next;
    }
    case step::kind::stream: {
        std::string block;
        if (!st.unit.empty()) {
            std::size_t units = std::max<std::size_t>(1, stream_block / st.unit.size());
            block.reserve(units * st.unit.size());
            for (std::size_t i = 0; i < units; ++i) block += st.unit;
        }
        error_code ec = co_await transmit(c, st.head);
        for (std::uint64_t left = st.unit_bytes; !ec && left > 0 && !stopping;) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
            ec = co_await transmit(c, std::string_view(block).substr(0, n));
            left -= n;
        }
        if (!ec && !stopping) ec = co_await transmit(c, st.tail);
        if (ec || stopping) {
            if (ec) note_failure(c, "stream", ec);
            co_return outcome::end;
        }
        co_return outcome::next;
    }
    case step::kind::delay:
        co_return (co_await pause(c, std::chrono::steady_clock::now() + st.pause)) ? outcome::next : outcome::end;
    case step::kind::close:
    case step::kind::close_without_notify: {
        if (c.ssl && st.what == step::kind::close) {
            SSL_shutdown(c.ssl); // queues close_notify; the peer's is not waited for
            co_await flush(c);
        }
        c.socket.shutdown(tcp::socket::shutdown_send, ignored);
        // A lingering close: closing with the peer's bytes unread would send an RST, which can
        // destroy our last bytes before the peer reads them.
        co_await drain(c);
        c.socket.close(ignored);
        update(c, [](connection_record& r) { ++r.steps_done; });
        co_return outcome::end;
    }
    case step::kind::reset:
        c.socket.set_option(asio::socket_base::linger(true, 0), ignored);
        c.socket.close(ignored);
        update(c, [](connection_record& r) { ++r.steps_done; });
        co_return outcome::end;
    case step::kind::hang: co_await pause(c, std::chrono::steady_clock::time_point::max()); co_return outcome::end;
    case step::kind::close_during_handshake: {
        auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(c.wire_in), nothrow);
        if (ec) note_failure(c, "close_during_handshake", ec);
        c.socket.set_option(asio::socket_base::linger(true, 0), ignored);
        c.socket.close(ignored);
        update(c, [](connection_record& r) { ++r.steps_done; });
        co_return outcome::end;
    }
    }
    co_return outcome::end;
}

asio::awaitable<hostile_server::impl::outcome> hostile_server::impl::handshake(live& c, const step& st) {
    if (c.ssl) SSL_free(c.ssl);
    c.ssl = SSL_new(static_cast<SSL_CTX*>(st.tls.get()));
    c.in = BIO_new(BIO_s_mem());
    c.out = BIO_new(BIO_s_mem());
    if (!c.ssl || !c.in || !c.out) throw std::runtime_error("hostile: SSL_new: " + openssl_reason());
    SSL_set_bio(c.ssl, c.in, c.out);
    SSL_set_accept_state(c.ssl);
    // Plain bytes already received belong to the handshake.
    if (!c.inbox.empty()) {
        BIO_write(c.in, c.inbox.data(), static_cast<int>(c.inbox.size()));
        c.inbox.clear();
    }
    auto [ec, r] = co_await drive(c, [&c] { return SSL_do_handshake(c.ssl); });
    if (ec) {
        note_failure(c, "TLS handshake", ec);
        co_return outcome::end;
    }
    std::string version = SSL_get_version(c.ssl);
    update(c, [&](connection_record& rec) {
        rec.tls_established = true;
        rec.tls_version = version;
    });
    co_return outcome::next;
}

asio::awaitable<hostile_server::impl::outcome> hostile_server::impl::read_one_request(live& c) {
    std::size_t head_end;
    while ((head_end = c.inbox.find("\r\n\r\n")) == std::string::npos) {
        if (c.inbox.size() > max_request_head) {
            note_failure(c, "read_request", make_error_code(boost::system::errc::message_size));
            co_return outcome::end;
        }
        error_code ec = co_await receive(c);
        if (ec) {
            note_failure(c, "read_request", ec);
            co_return outcome::end;
        }
    }

    received_request req;
    std::string_view head(c.inbox.data(), head_end);
    std::size_t line_end = head.find("\r\n");
    std::string_view start = head.substr(0, line_end);
    std::size_t sp1 = start.find(' ');
    std::size_t sp2 = start.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
        note_failure(c, "read_request", make_error_code(boost::system::errc::bad_message));
        co_return outcome::end;
    }
    req.method = start.substr(0, sp1);
    req.target = start.substr(sp1 + 1, sp2 - sp1 - 1);
    req.version = start.substr(sp2 + 1);
    std::size_t content_length = 0;
    while (line_end != std::string_view::npos && line_end < head.size()) {
        std::size_t next = head.find("\r\n", line_end + 2);
        std::string_view line =
            head.substr(line_end + 2, next == std::string_view::npos ? std::string_view::npos : next - line_end - 2);
        line_end = next;
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = trim(line.substr(0, colon));
        std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "Content-Length")) std::from_chars(value.data(), value.data() + value.size(), content_length);
        req.headers.emplace_back(name, value);
    }
    if (content_length > max_request_body) {
        note_failure(c, "read_request", make_error_code(boost::system::errc::message_size));
        co_return outcome::end;
    }
    std::size_t total = head_end + 4 + content_length;
    while (c.inbox.size() < total) {
        error_code ec = co_await receive(c);
        if (ec) {
            note_failure(c, "read_request body", ec);
            co_return outcome::end;
        }
    }
    req.body = c.inbox.substr(head_end + 4, content_length);
    c.inbox.erase(0, total);

    req.connection = c.index;
    {
        std::lock_guard lock(mutex);
        auto& rec = records.at(c.index - 1);
        req.index_on_connection = ++rec.requests;
        requests.push_back(req);
        c.last_request_slot = requests.size() - 1;
    }
    changed.notify_all();
    c.last_request = std::move(req);
    co_return outcome::next;
}

asio::awaitable<hostile_server::impl::outcome> hostile_server::impl::send_answer(live& c, const step& st) {
    std::size_t slot = c.last_request_slot;
    bool has_request = c.last_request.has_value();
    answer_context ctx(c.last_request ? &*c.last_request : nullptr, [this, slot, has_request](const std::string& url) {
        if (!has_request) return;
        {
            std::lock_guard lock(mutex);
            requests.at(slot).answered_url = url;
        }
        changed.notify_all();
    });
    std::string bytes = st.make(ctx);
    c.answers.push_back(bytes);
    if (st.what == step::kind::send) {
        error_code ec = co_await transmit(c, bytes);
        if (ec) {
            note_failure(c, "send", ec);
            co_return outcome::end;
        }
        co_return outcome::next;
    }
    // Drip: one byte, then the pause, measured from the start so the pace does not drift.
    auto next = std::chrono::steady_clock::now();
    for (char ch : bytes) {
        error_code ec = co_await transmit(c, std::string_view(&ch, 1));
        if (ec) {
            note_failure(c, "send_slowly", ec);
            co_return outcome::end;
        }
        next += st.pause;
        if (!co_await pause(c, next)) co_return outcome::end;
    }
    co_return outcome::next;
}

asio::awaitable<error_code> hostile_server::impl::flush(live& c) {
    while (BIO_ctrl_pending(c.out) > 0) {
        int n = BIO_read(c.out, c.wire_out.data(), static_cast<int>(c.wire_out.size()));
        if (n <= 0) break;
        auto [ec, written] =
            co_await asio::async_write(c.socket, asio::buffer(c.wire_out.data(), static_cast<std::size_t>(n)), nothrow);
        if (ec) co_return ec;
    }
    co_return error_code{};
}

asio::awaitable<error_code> hostile_server::impl::fill(live& c) {
    auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(c.wire_in), nothrow);
    if (ec) co_return ec;
    BIO_write(c.in, c.wire_in.data(), static_cast<int>(n));
    co_return error_code{};
}

/// Runs `op` (one SSL call) to completion, moving ciphertext between the BIOs and the socket.
template <class Op>
asio::awaitable<std::pair<error_code, int>> hostile_server::impl::drive(live& c, Op op) {
    for (;;) {
        ERR_clear_error();
        int r = op();
        int err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c.ssl, r);
        std::string reason = err == SSL_ERROR_SSL ? openssl_reason() : std::string();
        // Whatever OpenSSL produced goes out first, an alert included.
        error_code ec = co_await flush(c);
        if (ec) co_return std::pair{ec, r};
        switch (err) {
        case SSL_ERROR_NONE: co_return std::pair{error_code{}, r};
        case SSL_ERROR_WANT_READ:
            ec = co_await fill(c);
            if (ec) co_return std::pair{ec, r};
            continue;
        case SSL_ERROR_WANT_WRITE: continue; // a memory BIO is never full
        case SSL_ERROR_ZERO_RETURN: co_return std::pair{error_code(asio::error::eof), r};
        default:
            c.detail = reason.empty() ? "TLS error " + std::to_string(err) : reason;
            co_return std::pair{make_error_code(boost::system::errc::protocol_error), r};
        }
    }
}

asio::awaitable<error_code> hostile_server::impl::receive(live& c) {
    if (!c.ssl) {
        auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(c.wire_in), nothrow);
        if (!ec) c.inbox.append(c.wire_in.data(), n);
        co_return ec;
    }
    auto [ec, n] =
        co_await drive(c, [&c] { return SSL_read(c.ssl, c.clear.data(), static_cast<int>(c.clear.size())); });
    if (!ec) c.inbox.append(c.clear.data(), static_cast<std::size_t>(n));
    co_return ec;
}

asio::awaitable<error_code> hostile_server::impl::transmit(live& c, std::string_view data) {
    if (!c.ssl) {
        auto [ec, n] = co_await asio::async_write(c.socket, asio::buffer(data.data(), data.size()), nothrow);
        co_return ec;
    }
    while (!data.empty()) {
        std::size_t piece = std::min(data.size(), tls_write_piece);
        const char* p = data.data();
        auto [ec, n] = co_await drive(c, [&c, p, piece] { return SSL_write(c.ssl, p, static_cast<int>(piece)); });
        if (ec) co_return ec;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    co_return error_code{};
}

asio::awaitable<void> hostile_server::impl::drain(live& c) {
    for (;;) {
        auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(c.wire_in), nothrow);
        if (ec || stopping) co_return;
    }
}

asio::awaitable<bool> hostile_server::impl::pause(live& c, std::chrono::steady_clock::time_point until) {
    if (stopping) co_return false;
    c.timer.expires_at(until);
    auto [ec] = co_await c.timer.async_wait(nothrow);
    co_return !ec && !stopping;
}

// -------------------------------------------------------------------------------------------------
// The public face

hostile_server::hostile_server(script fallback) : impl_(std::make_unique<impl>(std::move(fallback))) { impl_->start(); }

hostile_server::~hostile_server() { stop(); }

void hostile_server::stop() {
    std::call_once(impl_->stop_once, [this] {
        asio::post(impl_->ioc, [s = impl_.get()] { s->shutdown(); });
        if (impl_->thread.joinable()) impl_->thread.join();
    });
}

unsigned short hostile_server::port() const noexcept { return impl_->port; }

std::string hostile_server::base_url() const { return "https://127.0.0.1:" + std::to_string(impl_->port); }

void hostile_server::push(script s) {
    std::lock_guard lock(impl_->mutex);
    impl_->queue.push_back(std::move(s));
}

std::size_t hostile_server::connections_accepted() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->records.size();
}

hostile_server::requests_view hostile_server::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->requests;
}

hostile_server::connections_view hostile_server::connections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->records;
}

std::optional<received_request> hostile_server::request_answered_with(std::string_view url) const {
    std::lock_guard lock(impl_->mutex);
    for (const auto& r : impl_->requests)
        if (!url.empty() && r.answered_url == url) return r;
    return std::nullopt;
}

bool hostile_server::wait_for(const std::function<bool(const requests_view&, const connections_view&)>& done,
                              std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mutex);
    return impl_->changed.wait_for(lock, timeout, [&] { return done(impl_->requests, impl_->records); });
}

bool hostile_server::wait_for_steps(std::size_t index, std::size_t steps, std::chrono::milliseconds timeout) const {
    return wait_for(
        [&](const requests_view&, const connections_view& conns) {
            return conns.size() >= index && conns[index - 1].steps_done >= steps;
        },
        timeout);
}

} // namespace hostile
