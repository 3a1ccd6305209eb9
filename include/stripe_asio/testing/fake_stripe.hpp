// A Stripe-shaped HTTPS server for tests, benchmarks and examples.
//
// It listens on loopback with real TLS (a CA and a server certificate made in memory when the
// server starts, so no private key ever lives in the repository), answers
// POST /v1/accounts/{account}/login_links the way Stripe does, and plays a script of faults, one
// per call, so that every failure a client must survive can be produced on demand.
#ifndef STRIPE_ASIO_TESTING_FAKE_STRIPE_HPP
#define STRIPE_ASIO_TESTING_FAKE_STRIPE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace stripe_asio::testing {

/// What the server does with one login-link call. The default answers like Stripe.
struct fault {
    enum class action {
        respond,               ///< answer with `status`/`body`/`headers` (200 login link by default)
        close_before_response, ///< read the request, then close the connection without a byte
        close_mid_headers,     ///< send part of the status line and headers, then close
        truncated_body,        ///< headers announce the full Content-Length, half the body, close
        garbage_body,          ///< 200 with a body that is not JSON
        oversized_body,        ///< 200 with a body of `oversized_bytes` bytes
        hang,                  ///< read the request and never answer (the connection stays open)
    };

    action what = action::respond;
    unsigned status = 200;   ///< HTTP status for `respond`; 200 means a normal login link
    std::string body;        ///< body for `respond` when not empty (used verbatim)
    std::vector<std::pair<std::string, std::string>> headers; ///< extra response headers
    std::chrono::milliseconds delay{0}; ///< wait before answering (timer, never blocks the server)
    std::size_t oversized_bytes = 2 * 1024 * 1024;

    /// A Stripe error answer: {"error":{"type":...,"code":...,"message":...}}.
    static fault stripe_error(unsigned status, std::string type, std::string code = {},
                              std::string message = "Scripted error from fake_stripe.");
    /// Same, with a `Stripe-Should-Retry` header.
    static fault stripe_error_should_retry(unsigned status, bool should_retry, std::string type,
                                           std::string code = {});
    static fault with(action a);
    static fault delayed(std::chrono::milliseconds d); ///< a normal answer, late
};

/// One request as the server received it.
struct received_request {
    std::string method;
    std::string target;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; ///< in arrival order
    std::uint64_t connection_id = 0; ///< which accepted connection carried it (1, 2, ...)
    unsigned status = 0;             ///< the status the server answered (0 if none was sent)
    bool replayed = false;           ///< answered from the idempotency store

    /// The first header of that name (case-insensitive), or empty.
    std::string header(const std::string& name) const;
};

class fake_stripe {
public:
    struct options {
        std::string api_key = "sk_test_fake_stripe_key";
        std::string listen_address = "127.0.0.1";
        unsigned short port = 0;   ///< 0: an ephemeral port
        std::string cert_pem;      ///< server certificate chain; empty: one is made at start
        std::string key_pem;       ///< its private key; empty: one is made at start
        /// Names and addresses the generated server certificate is valid for.
        std::vector<std::string> certificate_names = {"localhost", "127.0.0.1", "::1"};
        /// Keep-alive: the server closes a connection idle this long (0: never).
        std::chrono::milliseconds idle_timeout{0};
        /// Requests per connection before the server answers with Connection: close (0: unlimited).
        std::size_t max_requests_per_connection = 0;
        bool record_requests = true; ///< false keeps memory flat in long benchmarks
    };

    fake_stripe();                          ///< starts at once with default options
    explicit fake_stripe(options opts);     ///< starts at once
    ~fake_stripe();                         ///< stops: closes every connection, joins its thread
    fake_stripe(const fake_stripe&) = delete;
    fake_stripe& operator=(const fake_stripe&) = delete;

    std::string base_url() const;  ///< "https://127.0.0.1:<port>"
    unsigned short port() const;
    const std::string& api_key() const;
    /// PEM of the CA that signed the server certificate (empty when cert_pem was given).
    const std::string& ca_pem() const;
    /// Path of a file holding ca_pem(), written at start, removed by the destructor.
    const std::string& ca_file() const;

    /// Faults for the next login-link calls, in order; a call with none left is answered normally.
    void script(std::vector<fault> faults);
    void push(fault f);

    std::vector<received_request> requests() const;
    std::size_t request_count() const;
    std::uint64_t connections_accepted() const;
    std::size_t connections_open() const;
    std::size_t max_connections_open() const; ///< the peak of connections_open()
    /// Closes every keep-alive connection waiting for its next request, as a restarting server
    /// would; one still sending an answer closes as soon as that answer is out, before it reads
    /// anything more.
    void close_idle_connections();
    void reset_counters(); ///< clears recorded requests and the peak

    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace stripe_asio::testing

#endif
