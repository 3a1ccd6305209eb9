// A Stripe-shaped HTTPS server for tests, benchmarks and examples.
//
// It listens on loopback with real TLS (a CA and a server certificate made in memory when the
// server starts, so no private key ever lives in the repository), answers
// POST /v1/accounts/{account}/login_links the way Stripe does, and plays a script of faults, one
// per call, so that every failure a client must survive can be produced on demand. Random faults
// (options::random_faults) and per-key accounting of what was delivered serve soak tests.
#ifndef STRIPE_ASIO_TESTING_FAKE_STRIPE_HPP
#define STRIPE_ASIO_TESTING_FAKE_STRIPE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stripe_asio::testing {

/// What the server does with one login-link call. The default answers like Stripe.
struct fault {
    enum class action {
        respond, ///< answer with `status`/`body`/`headers` (200 login link by default)
        close_before_response, ///< read the request, then close the connection without a byte
        close_mid_headers, ///< send part of the status line and headers, then close
        truncated_body, ///< headers announce the full Content-Length, half the body, close
        garbage_body, ///< 200 with a body that is not JSON
        oversized_body, ///< 200 with a body of `oversized_bytes` bytes
        hang, ///< read the request and never answer (the connection stays open
              ///< until the client closes it, or for `hang_for` when that is > 0)
        reset, ///< read the request, then abort the connection (RST, SO_LINGER 0)
        duplicate_response, ///< the normal answer twice, back to back (see below)
        trailing_garbage, ///< the normal answer followed by junk bytes on the same connection
        /// the normal answer, then as stray bytes a 402 card_error no request asked for (a
        /// Request-Id of its own, no Idempotency-Key)
        unasked_answer,
    };

    action what = action::respond;
    unsigned status = 200; ///< HTTP status for `respond`; 200 means a normal login link
    std::string body; ///< body for `respond` when not empty (used verbatim)
    std::vector<std::pair<std::string, std::string>> headers; ///< extra response headers
    std::chrono::milliseconds delay{0}; ///< wait before answering (timer, never blocks the server)
    std::size_t oversized_bytes = 2 * 1024 * 1024;
    /// `hang`: close after this long (0: wait for the client to close)
    std::chrono::milliseconds hang_for{0};
    /// duplicate_response, trailing_garbage: the extra bytes go in the answer's own write (false:
    /// a client reading the answer finds them with it), or in a write of their own right after
    /// it (true: they may arrive after the client has reused the connection).
    bool stray_in_separate_write = false;
    /// duplicate_response: the copy leaves out the Idempotency-Key header, as a middlebox
    /// replaying an answer might.
    bool stray_without_key = false;
    /// The stray bytes go out in a write of their own this long after the answer, whatever the
    /// connection is doing then (0: as stray_in_separate_write says).
    std::chrono::milliseconds stray_delay{0};
    /// The stray bytes wait for the connection's next request and go out just before its answer:
    /// a client that has written that request reads them first (the race's worst case, made sure).
    bool stray_before_next_answer = false;

    /// A Stripe error answer: {"error":{"type":...,"code":...,"message":...}}.
    static fault stripe_error(unsigned status, std::string type, std::string code = {},
                              std::string message = "Scripted error from fake_stripe.");
    /// Same, with a `Stripe-Should-Retry` header.
    static fault stripe_error_should_retry(unsigned status, bool should_retry, std::string type, std::string code = {});
    static fault with(action a);
    static fault delayed(std::chrono::milliseconds d); ///< a normal answer, late
};

/// Intact answers the server sent for one Idempotency-Key.
struct key_deliveries {
    std::size_t in_step = 0; ///< on a connection in step: the client must read it or give up
    /// Behind a stray copy or junk sent in a write of its own on the same connection (and the
    /// stray copy itself): a client that took the stray bytes for an answer never sees it.
    std::size_t behind_stray = 0;
    std::size_t total() const { return in_step + behind_stray; }
};

/// One request as the server received it.
struct received_request {
    std::string method;
    std::string target;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; ///< in arrival order
    std::uint64_t connection_id = 0; ///< which accepted connection carried it (1, 2, ...)
    unsigned status = 0; ///< the status the server answered (0 if none was sent)
    bool replayed = false; ///< answered from the idempotency store

    /// The first header of that name (case-insensitive), or empty.
    std::string header(const std::string& name) const;
};

class fake_stripe {
public:
    struct options {
        std::string api_key = "sk_test_fake_stripe_key";
        std::string listen_address = "127.0.0.1";
        unsigned short port = 0; ///< 0: an ephemeral port
        std::string cert_pem; ///< server certificate chain; empty: one is made at start
        std::string key_pem; ///< its private key; empty: one is made at start
        /// Names and addresses the generated server certificate is valid for.
        std::vector<std::string> certificate_names = {"localhost", "127.0.0.1", "::1"};
        /// Keep-alive: the server closes a connection idle this long (0: never).
        std::chrono::milliseconds idle_timeout{0};
        /// Requests per connection before the server answers with Connection: close (0: unlimited).
        std::size_t max_requests_per_connection = 0;
        bool record_requests = true; ///< false keeps memory flat in long benchmarks
        /// Echo a request's Idempotency-Key on its answer, as Stripe does (false: as a proxy
        /// that strips the header would pass it on).
        bool echo_idempotency_key = true;
        /// Idempotency keys remembered at most; past it the oldest is forgotten.
        std::size_t idempotency_capacity = 100'000;

        /// Faults drawn at random for login-link calls that have no scripted fault (replays of a
        /// stored answer included). The sequence of draws is fixed by `seed`; which request gets
        /// which draw depends on the order requests arrive in.
        struct random_fault_options {
            double rate = 0; ///< probability that a call gets a fault, 0..1; 0: none
            std::uint64_t seed = 1;
            /// `hang` lasts a duration in this range, then the server closes; a client with a
            /// shorter attempt timeout closes first, which the server notices at once.
            std::chrono::milliseconds hang_for_min{2000}, hang_for_max{5000};
            /// `delay` answers normally after a duration in this range.
            std::chrono::milliseconds delay_min{10}, delay_max{1500};
        };
        random_fault_options random_faults;

        /// Limits like Stripe's, per second: over one, a request is answered 429 rate_limit with
        /// `Stripe-Rate-Limited-Reason: global-rate` (the account's, every authenticated /v1
        /// request) or `endpoint-rate` (each endpoint's, the login-link route being
        /// "POST /v1/accounts/:account/login_links"), before the idempotency store, as Stripe
        /// does. A refused request counts against neither limit. 0: no limit.
        struct rate_limit_options {
            double account_per_second = 0;
            double endpoint_per_second = 0;
            double burst = 1; ///< requests each limit lets through at once after a lull
            /// Instead of a token bucket: at most floor(rate) requests admitted in any window of
            /// one second, however it falls (sliding, closed at both ends; `burst` unused). A
            /// stricter limiter than Stripe's, for checks that a client's pacing has margin.
            bool sliding_window = false;
        };
        rate_limit_options rate_limits;
    };

    /// The kinds a random fault is drawn from, uniformly. Error statuses come with no
    /// Stripe-Should-Retry header, with `true` or with `false`, each a third of the time.
    enum class random_fault_kind {
        status_500,
        status_503,
        status_409_lock_timeout,
        status_429_rate_limit,
        status_429_lock_timeout,
        status_400,
        status_402,
        close_before_response,
        close_mid_headers,
        truncated_body,
        garbage_body,
        oversized_body,
        hang,
        delay,
        reset,
        duplicate_response,
        trailing_garbage,
    };
    static constexpr std::size_t random_fault_kinds = 17;
    static const char* name(random_fault_kind k) noexcept;

    fake_stripe(); ///< starts at once with default options
    explicit fake_stripe(options opts); ///< starts at once
    ~fake_stripe(); ///< stops: closes every connection, joins its thread
    fake_stripe(const fake_stripe&) = delete;
    fake_stripe& operator=(const fake_stripe&) = delete;

    std::string base_url() const; ///< "https://127.0.0.1:<port>"
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
    /// anything more. Returns once they are all closed (at most 10 s for a busy one).
    void close_idle_connections();
    void reset_counters(); ///< clears recorded requests and the peak

    // ---- Accounting for exactness checks. An intact answer is a complete 200 login link as
    // stored for its Idempotency-Key (also each copy of `duplicate_response`, and the one before
    // `trailing_garbage`). It counts as delivered from the moment its bytes go to the socket, so a
    // client that has read it always finds it counted; it is uncounted if the write fails before
    // its last byte. Counts are kept while the key is remembered.

    /// The login link URL stored for `key` (issued by its first 200), if the key is remembered.
    std::optional<std::string> link_for_key(std::string_view key) const;
    key_deliveries deliveries_for_key(std::string_view key) const;
    std::size_t delivered_for_key(std::string_view key) const; ///< deliveries_for_key(key).total()
    /// Keys remembered now that have had at least one intact answer delivered.
    std::size_t keys_with_delivered_link() const;
    /// Intact answers delivered since the start, every key.
    std::uint64_t intact_answers_delivered() const;
    /// Drops `key` from the idempotency store, as Stripe does after a day, so a long run whose
    /// checker is done with a key keeps the store small; returns its deliveries.
    key_deliveries forget_key(std::string_view key);
    std::size_t idempotency_keys_remembered() const;

    /// Random faults injected so far, by kind.
    std::uint64_t random_faults_injected(random_fault_kind k) const;
    std::uint64_t random_faults_injected() const; ///< all kinds
    std::uint64_t scripted_faults_injected() const;
    /// Hangs that lasted their whole `hang_for` (the client never closed the connection).
    std::uint64_t hangs_outlived() const;

    /// With rate_limits: requests let through in each whole second since the server started
    /// (index 0 is the first second), and those answered 429 for a limit. The program serves
    /// the same as JSON at GET /_fake_stripe/rate_stats.
    std::vector<std::uint64_t> admitted_per_second() const;
    std::uint64_t rate_limited_answers() const;

    /// Blocks until exactly `n` connections are open and none is busy with a request (each is
    /// waiting for the next one), or `timeout` passes; returns whether that happened.
    bool wait_until_settled(std::size_t n, std::chrono::milliseconds timeout) const;

    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace stripe_asio::testing

#endif
