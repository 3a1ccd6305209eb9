// A loopback server that misbehaves on purpose. Each accepted connection follows a script: a
// list of steps (TLS or not, read a request, send these bytes, drip them, wait, close, reset,
// hang...), taken from a queue, or the server's default script when the queue is empty. The
// server records what it received on every connection, so tests can check what a client sent.
//
// The server runs on its own thread with its own io_context; the destructor stops it cleanly.
// TLS is driven by hand (OpenSSL over memory BIOs) so that every byte on the wire is the
// script's choice: a handshake cut after the first bytes, a close_notify or none, a reset.
#ifndef STRIPE_ASIO_TEST_HOSTILE_SERVER_HPP
#define STRIPE_ASIO_TEST_HOSTILE_SERVER_HPP

#include "integration/test_pki.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hostile {

using namespace std::chrono_literals;

/// One request as the server read it.
struct received_request {
    std::size_t connection = 0; ///< 1 for the first connection accepted, and so on
    std::size_t index_on_connection = 0; ///< 1 for the first request on its connection
    std::string method, target, version;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string answered_url; ///< the login-link url the server made for this request, if any

    /// The first value of `name` (case-insensitive); empty when absent.
    std::string header(std::string_view name) const;
    std::string idempotency_key() const { return header("Idempotency-Key"); }
    std::string authorization() const { return header("Authorization"); }
};

/// What one accepted connection went through.
struct connection_record {
    std::size_t index = 0; ///< 1-based, in accept order
    bool tls_established = false; ///< a tls_accept step completed its handshake
    std::string tls_version; ///< as negotiated, e.g. "TLSv1.3"
    std::string failure; ///< the step that failed and why (the client went away, a TLS alert...)
    std::size_t steps_done = 0; ///< steps completed, counting every pass of a keep-alive loop
    std::size_t requests = 0;
    bool finished = false; ///< the server is done with it
};

/// Given to an answer when its step runs.
class answer_context {
public:
    answer_context(const received_request* request, std::function<void(const std::string&)> record_url)
        : request_(request), record_url_(std::move(record_url)) {}

    /// The last request read on this connection; null when none was.
    const received_request* request() const noexcept { return request_; }
    /// The request's Idempotency-Key, or empty.
    std::string idempotency_key() const { return request_ ? request_->idempotency_key() : std::string(); }
    /// A login-link url no other answer in this process has, recorded as the one made for
    /// request() (see hostile_server::request_answered_with).
    std::string new_link_url();

private:
    const received_request* request_;
    std::function<void(const std::string&)> record_url_;
};

/// The bytes of one answer, made when its send step runs.
using answer = std::function<std::string(answer_context&)>;

/// How an answer is framed and which headers it carries.
struct answer_options {
    enum class framing { content_length, chunked, until_close };
    framing frame = framing::content_length;
    std::string version = "HTTP/1.1";
    bool echo_idempotency_key = true; ///< as Stripe does
    std::optional<std::string> idempotency_key; ///< sent instead of the echo
    std::optional<std::string> request_id; ///< default: a fresh req_hostile...
    bool connection_close = false; ///< add `Connection: close`
    std::string extra_headers; ///< raw header lines, each ending in CRLF
    std::size_t chunk_size = 16; ///< chunked: the body in pieces this long
};

/// {"object":"login_link","created":...,"url":"..."}
std::string login_link_json(std::string_view url, std::int64_t created = 1495580507);
/// `body` as `length` hex-sized chunks, then the last chunk (no trailers).
std::string chunked(std::string_view body, std::size_t length);

/// A 200 with a valid login link whose url is new (answer_context::new_link_url).
answer login_link_ok(answer_options options = {});
/// Any status with any body (a JSON content type), framed as `options` say.
answer respond(unsigned status, std::string reason, std::string body, answer_options options = {});
/// Exactly these bytes.
answer raw(std::string bytes);
/// `first`'s bytes followed by `more`, in one write.
answer followed_by(answer first, std::string more);
/// `more` followed by `last`'s bytes, in one write (interim responses before a final one).
answer preceded_by(std::string more, answer last);
/// The same answer twice back to back, in one write (one url made, sent twice).
answer twice(answer a);

/// TLS protocol versions, for tls_accept.
enum class tls_version { tls1_0, tls1_1, tls1_2, tls1_3 };

/// One step of a connection's script. Made with the functions below.
struct step {
    enum class kind {
        tls_accept,
        plain,
        read_request,
        read_some,
        send,
        send_slowly,
        stream,
        delay,
        resend_answer,
        close,
        close_without_notify,
        reset,
        hang,
        close_during_handshake,
    };
    kind what = kind::plain;
    std::shared_ptr<void> tls; ///< tls_accept: the SSL_CTX
    answer make; ///< send, send_slowly
    std::chrono::milliseconds pause{0}; ///< send_slowly (per byte), delay
    std::string head, unit, tail; ///< stream
    std::uint64_t unit_bytes = 0; ///< stream
    std::size_t answer_index = 0; ///< resend_answer
};

/// TLS handshake as the server, presenting `identity`, between `min` and `max` (1.0 and 1.1
/// need the server at security level 0; it always is, so a weak key can be presented too).
step tls_accept(const test_pki::server_identity& identity, tls_version min = tls_version::tls1_2,
                tls_version max = tls_version::tls1_3);
/// No TLS: the steps that follow read and write plain TCP (the default before any tls_accept).
step plain();
/// Reads one HTTP request (head and Content-Length body) and records it. At the end of the
/// stream (the client closed) the script ends there.
step read_request();
/// Reads whatever arrives next (at least one byte) and discards it: a ClientHello, say.
step read_some();
step send(answer a);
step send(std::string bytes);
/// `a`'s bytes one at a time, `per_byte` apart.
step send_slowly(answer a, std::chrono::milliseconds per_byte);
/// `head`, then `unit` repeated until `unit_bytes` bytes of it went out, then `tail`; never
/// more than 64 KiB of it in memory. Ends early (and the script with it) when the peer goes.
step stream(std::string head, std::string unit, std::uint64_t unit_bytes, std::string tail);
step delay(std::chrono::milliseconds d);
/// The `n`-th answer (0-based) this connection sent, again, byte for byte.
step resend_answer(std::size_t n);
/// Graceful: TLS close_notify (when TLS is on), then FIN. Ends the script.
step close();
/// FIN without a TLS close_notify (a cut an attacker can make). Ends the script.
step close_without_notify();
/// SO_LINGER 0 and close: the peer gets an RST. Ends the script.
step reset();
/// Keeps the connection open, sending nothing, until the server stops.
step hang();
/// Reads the first bytes of the ClientHello, then resets. Ends the script.
step close_during_handshake();

/// A connection's steps. After the last one (unless it ended the script) the server goes on
/// from `loop_from` when set (keep-alive), else waits for the client to close.
struct script {
    std::vector<step> steps;
    std::optional<std::size_t> loop_from;
};

/// TLS with `identity`, then any number of requests, each answered by `reply`.
script keep_alive(const test_pki::server_identity& identity, answer reply = login_link_ok());

class hostile_server {
public:
    using requests_view = std::vector<received_request>;
    using connections_view = std::vector<connection_record>;

    /// Listens on 127.0.0.1, an ephemeral port; connections nobody scripted follow `fallback`.
    explicit hostile_server(script fallback = keep_alive(test_pki::shared().good()));
    ~hostile_server();
    hostile_server(const hostile_server&) = delete;
    hostile_server& operator=(const hostile_server&) = delete;

    unsigned short port() const noexcept;
    /// https://127.0.0.1:<port>
    std::string base_url() const;

    /// The script of the next connection accepted that has none yet (first pushed, first used).
    void push(script s);

    std::size_t connections_accepted() const;
    requests_view requests() const;
    connections_view connections() const;
    /// The request whose answer carried `url`, if any.
    std::optional<received_request> request_answered_with(std::string_view url) const;

    /// Waits until `done(requests, connections)` holds, re-checked whenever the server records
    /// something; false when `timeout` passes first.
    bool wait_for(const std::function<bool(const requests_view&, const connections_view&)>& done,
                  std::chrono::milliseconds timeout = 5s) const;
    /// Waits until connection `index` (1-based) completed `steps` steps.
    bool wait_for_steps(std::size_t index, std::size_t steps, std::chrono::milliseconds timeout = 5s) const;

    /// Closes everything and joins the thread. Also done by the destructor.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace hostile

#endif
