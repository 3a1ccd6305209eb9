// How the fake Stripe server answers a request, with no I/O: from a parsed request and the
// server's state (API key, idempotency store, fault script, random fault draw, link tokens) to a
// reply, which is a status, headers and a body, or a fault action for the connection to play.
//
// Routes: POST /v1/accounts/{account}/login_links (authenticated with the API key as Bearer or
// Basic; a form body of expand[] parameters only; Idempotency-Key replays and conflicts as
// Stripe's); GET /express/{account}/{token} (express_pages.hpp); 404 for anything else, behind
// authentication under /v1. Faults apply to login-link calls only: a scripted fault waits for a
// call that is valid and not a replay, a random one hits any valid call.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_RULES_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_RULES_HPP

#include "faults.hpp"
#include "idempotency_store.hpp"
#include "link_tokens.hpp"
#include "rate_limits.hpp"

#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stripe_asio::testing::detail {

using request = boost::beast::http::request<boost::beast::http::string_body>;

/// How one request is answered.
struct reply {
    fault::action what = fault::action::respond;
    unsigned status = 200;
    std::string_view content_type = "application/json";
    std::string body; ///< unused by oversized_body, close_before_response, close_mid_headers, hang, reset
    std::chrono::milliseconds delay{0};
    std::chrono::milliseconds hang_for{0};
    std::size_t oversized_bytes = 0;
    std::vector<std::pair<std::string, std::string>> extra_headers;
    /// A stored 200 login link, to be counted as delivered for `delivery_key`.
    bool intact = false;
    std::string delivery_key;
    bool stray_separate = false; ///< the stray part of duplicate_response/trailing_garbage goes alone
    bool stray_without_key = false; ///< the duplicate leaves out the Idempotency-Key header
    std::chrono::milliseconds stray_delay{0}; ///< the stray part goes this long after the answer
    bool stray_before_next_answer = false; ///< the stray part waits for the next request
    bool keep_alive = true; ///< false when a fault's headers ask for Connection: close
    bool replayed = false; ///< answered from the idempotency store (Idempotent-Replayed: true)
    bool login_call = false; ///< POST /v1/accounts/{account}/login_links

    /// Back to the defaults, keeping the strings' capacity.
    void clear();
};

class rules {
public:
    struct settings {
        std::string api_key;
        std::string base_url; ///< where login links point: base_url + "/express/..."
        std::size_t idempotency_capacity = 100'000;
        fake_stripe::options::random_fault_options random_faults;
        fake_stripe::options::rate_limit_options rate_limits;
    };

    explicit rules(settings s);

    /// The answer to `req` arriving at `now`, into `r` (cleared first). One thread at a time.
    void decide(const request& req, reply& r,
                std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
    const rate_limits& limits() const { return limits_; }

    fault_script& script() { return script_; }
    idempotency_store& idempotency() { return idempotency_; }
    const idempotency_store& idempotency() const { return idempotency_; }
    const random_faults& random() const { return random_faults_; }
    /// Requests to the login-link route with POST, valid or not.
    std::size_t login_calls() const { return login_calls_.load(); }
    void reset_login_calls() { login_calls_.store(0); }

private:
    bool authorized(const request& req, reply& r) const;
    void not_found(const request& req, std::string_view path, reply& r) const;
    void login_link(const request& req, std::string_view account_segment, reply& r);
    void login_link_body(reply& r, std::string_view account);

    const settings settings_;
    fault_script script_;
    idempotency_store idempotency_;
    random_faults random_faults_;
    link_tokens tokens_;
    rate_limits limits_;
    std::atomic<std::size_t> login_calls_{0};
    std::string scratch_; // percent-decoding
};

} // namespace stripe_asio::testing::detail

#endif
