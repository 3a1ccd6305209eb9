// The rate budgets shared by a fleet through Redis (config::shared_budget): the connections to
// Redis, the keys, and the two steps a call takes through it. An attempt asks Redis for room
// in one round trip (the script of detail/shared_budget_script.hpp, pipelined with other calls'
// questions on a few redis_channels) and waits on its own timer for the answer, at most
// command_timeout and never past its deadline; cancellation and shutdown reach it there as in
// any other wait. With no connection up, or no usable answer in time, the attempt takes room
// from the client's local share (fallback_share) instead, and the next one asks Redis again.
// While the channels' first connection attempts are still under way (a client just made), the
// question waits for them too: a fleet started together would otherwise each take a whole
// share at once.
// Needs hiredis (STRIPE_ASIO_WITH_REDIS). Engine-only: included by impl/client.ipp.
#ifndef STRIPE_ASIO_IMPL_INTERNAL_SHARED_BUDGET_HPP
#define STRIPE_ASIO_IMPL_INTERNAL_SHARED_BUDGET_HPP

#include <stripe_asio/detail/shared_budget_script.hpp>
#include <stripe_asio/impl/internal/call_steps.hpp>
#include <stripe_asio/impl/internal/client_state.hpp>
#include <stripe_asio/impl/internal/redis_channel.hpp>

#include <openssl/sha.h>

namespace stripe_asio::detail {

class shared_budget {
public:
    /// The channels run on the client's executor (its strand when thread-safe), a copy that
    /// stays valid after the client is gone. A started channel is owned by its own operations
    /// (its connection loop runs until close()), and this holds it by pointer.
    explicit shared_budget(const std::shared_ptr<client_impl>& owner)
        : sha1(shared_budget_script_sha1()), burst_(owner->cfg.rate_budget.burst) {
        client_impl& c = *owner;
        const shared_budget_config& sb = c.cfg.shared_budget;
        std::string why;
        redis_endpoint ep = *parse_redis_url(sb.url, why); // validated with the config
        if (ep.tls) tls_ = make_tls_context(sb);
        // One hash tag for both keys of a question, so a Redis Cluster keeps them in one slot.
        key_base_ = sb.key_prefix + "{" + (sb.account.empty() ? key_digest(c.cfg.api_key) : sb.account) + "}:";
        account_key = key_base_ + "account";
        redis_timeouts t;
        t.connect = sb.connect_timeout;
        t.command = sb.command_timeout;
        t.reconnect_min = sb.reconnect_min;
        t.reconnect_max = sb.reconnect_max;
        t.max_queued = std::max<std::size_t>(c.cfg.max_pending, 1);
        for (std::size_t i = 0; i < sb.connections; ++i)
            unstarted_.push_back(
                std::make_shared<redis_channel>(c.ex, ep, t, tls_, &c.counters.redis_connections, owner));
    }

    void start() {
        channels_.reserve(unstarted_.size()); // so none is started and then not held
        for (auto& ch : unstarted_) {
            ch->start();
            channels_.push_back(ch.get());
        }
        unstarted_.clear();
    }
    /// Closes the channels: each goes, and lets go of the client, once its last operation is done.
    void close() {
        for (redis_channel* ch : channels_) ch->close();
        channels_.clear();
        unstarted_.clear();
    }

    /// A connected channel, taken in turn; else one still making its first connection, which
    /// holds the question until then; null when there is neither.
    redis_channel* ready_channel() noexcept {
        if (channels_.empty()) return nullptr; // closed
        for (std::size_t i = 0; i < channels_.size(); ++i) {
            redis_channel& ch = *channels_[next_++ % channels_.size()]; // started, not closed: alive
            if (ch.ready()) return &ch;
        }
        for (redis_channel* ch : channels_)
            if (ch->starting()) return ch;
        return nullptr;
    }

    /// Whether no channel is connected yet but one is still making its first connection.
    bool first_connection_pending() const noexcept {
        bool starting = false;
        for (redis_channel* ch : channels_) {
            if (ch->ready()) return false;
            starting = starting || ch->starting();
        }
        return starting;
    }

    /// The question for room in the account's budget and endpoint `endpoint`'s, at the rates in
    /// force now (a 429 cuts them here as in the local budgets).
    std::string_view question(const rate_budgets& rates, std::size_t endpoint, std::int64_t max_wait_us,
                              bool load_first, clock_type::time_point now) {
        std::string& out = question_; // reused: the channel copies it
        out.clear();
        append_reservation(out, sha1, account_key, endpoint_key(rates, endpoint),
                           shared_cell_for(rates.account_rate(now), burst_),
                           shared_cell_for(rates.endpoint_rate(endpoint, now), burst_), max_wait_us, load_first);
        return out;
    }

    std::string sha1;
    std::string account_key;

private:
    const std::string& endpoint_key(const rate_budgets& rates, std::size_t endpoint) {
        if (endpoint >= endpoint_keys_.size()) endpoint_keys_.resize(endpoint + 1);
        std::string& key = endpoint_keys_[endpoint];
        if (key.empty()) key = key_base_ + std::string(rates.name(endpoint));
        return key;
    }

    /// The account's name in the keys when none is configured: a digest of the API key, so
    /// clients with one key share one budget and Redis never holds the key.
    static std::string key_digest(std::string_view api_key) {
        std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
        SHA256(reinterpret_cast<const unsigned char*>(api_key.data()), api_key.size(), d.data());
        return lower_hex(d.data(), 12); // 96 bits: no two keys of one Redis meet
    }

    /// rediss://: verified against the shared budget's CAs (ca_file, ca_pem, else the system's).
    static std::shared_ptr<ssl::context> make_tls_context(const shared_budget_config& cfg) {
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
        SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
        boost::system::error_code ec;
        if (cfg.ca_file.empty() && cfg.ca_pem.empty()) ctx->set_default_verify_paths(ec);
        if (!ec && !cfg.ca_file.empty()) ctx->load_verify_file(cfg.ca_file, ec);
        if (!ec && !cfg.ca_pem.empty()) ctx->add_certificate_authority(asio::buffer(cfg.ca_pem), ec);
        if (ec) client_impl::fail_config("config.shared_budget: cannot load the CAs for rediss://: " + ec.message());
        return ctx;
    }

    std::shared_ptr<ssl::context> tls_; ///< rediss:// only; shared with the channels
    std::vector<std::shared_ptr<redis_channel>> unstarted_; ///< made, until start()
    std::vector<redis_channel*> channels_; ///< started and not closed
    std::vector<std::string> endpoint_keys_; ///< by endpoint index, made at first use
    std::string key_base_;
    std::string question_;
    double burst_;
    std::size_t next_ = 0;
};

inline void client_impl::close_shared_budget() {
    if (shared) shared->close();
}

inline void on_shared_answer(call_state& call, const boost::system::error_code&, std::size_t);
inline void stop_counting_budget_wait(call_state& call) noexcept;

/// A hold on a ticket, as its reply handler keeps it.
class ticket_hold {
public:
    explicit ticket_hold(budget_ticket* t) noexcept : t_(t) { ++t_->holders; }
    /// Takes over a hold already counted (a new ticket's first, or the call's).
    static ticket_hold adopt(budget_ticket* t) noexcept {
        ticket_hold h(t);
        --t->holders;
        return h;
    }
    ticket_hold(const ticket_hold& other) noexcept : ticket_hold(other.t_) {}
    ticket_hold& operator=(const ticket_hold&) = delete;
    ~ticket_hold() { budget_ticket::release(t_); }
    budget_ticket* operator->() const noexcept { return t_; }
    budget_ticket* get() const noexcept { return t_; }

private:
    budget_ticket* t_;
};

/// Sends the call's question (again, after NOSCRIPT) on a connected channel; false when none is.
inline bool send_question(call_state& call, const ticket_hold& ticket, bool load_first) {
    client_impl& c = *call.client;
    redis_channel* channel = c.shared->ready_channel();
    if (!channel) return false;
    channel->send(
        c.shared->question(c.budgets, ticket->endpoint, ticket->max_wait_us, load_first, clock_type::now()),
        [ticket](boost::system::error_code ec, resp_value answer) {
            call_state* waiting = ticket->call;
            if (!waiting) return; // the call went on without it
            if (!ec && is_noscript(answer) && !ticket->reloaded && !waiting->machine.cancel_requested()) {
                ticket->reloaded = true;
                try {
                    if (send_question(*waiting, ticket, true)) return;
                } catch (const std::bad_alloc&) { // no memory to ask again: no answer, the local share
                }
            }
            if (auto room = ec ? std::nullopt : read_reservation(answer, ticket->max_wait_us)) {
                ticket->answered = true;
                ticket->granted = room->granted;
                ticket->wait = room->wait;
            }
            waiting->timer.cancel(); // on_shared_answer takes it from here
        },
        load_first ? 2 : 1);
    return true;
}

/// Asks the shared budget for room before `limit` (the latest send time the call accepts):
/// false, with nothing sent, when no connection to Redis is up.
inline bool ask_shared_budget(call_state& call, std::size_t endpoint, clock_type::time_point now,
                              clock_type::time_point limit) {
    client_impl& c = *call.client;
    ticket_hold ticket = ticket_hold::adopt(new budget_ticket);
    ticket->call = &call;
    ticket->endpoint = endpoint;
    using us = std::chrono::microseconds;
    ticket->max_wait_us =
        limit <= now ? 0 : std::min<std::int64_t>(longest_wait_us, std::chrono::duration_cast<us>(limit - now).count());
    // A question held for a first connection waits for it too (its attempt is bounded by
    // connect_timeout), then for the answer.
    auto patience = c.cfg.shared_budget.command_timeout;
    if (c.shared->first_connection_pending()) patience += c.cfg.shared_budget.connect_timeout;
    if (!send_question(call, ticket, false)) return false;
    ++ticket->holders; // the call's own hold, taken over again in on_shared_answer
    call.ticket = ticket.get();
    // Waiting for the budget's answer is waiting for the budget: it counts toward max_pending.
    bump(c.counters.budget_waiters);
    call.counted_budget_wait = true;
    auto until = std::min(call.machine.deadline(), now + patience);
    call.machine.consulting_budget(until);
    wait_until(call, until, &on_shared_answer);
    return true;
}

inline void reserve_locally(call_state& call);

/// The answer came (the handler cut the wait short), or the wait for it ended: go on with
/// Redis's room, or take room from the local share. An answer the script cannot have given to
/// this question (read_reservation) counts as no answer. Redis's room is counted in the local
/// share (rate_budgets::count), and charged to the full budget as the request goes.
inline void on_shared_answer(call_state& call, const boost::system::error_code&, std::size_t) {
    client_impl& c = *call.client;
    ticket_hold ticket = ticket_hold::adopt(std::exchange(call.ticket, nullptr));
    ticket->call = nullptr;
    stop_counting_budget_wait(call);
    call_action next = call.machine.budget_consulted(clock_type::now());
    if (next != call_action::reserve_budget) return carry_out(call, next);
    if (!ticket->answered) {
        bump(c.counters.shared_failures);
        bump(c.counters.shared_fallbacks);
        return reserve_locally(call);
    }
    // At most longest_wait_us (read_reservation): no overflow on the way to nanoseconds.
    auto wait = std::chrono::duration_cast<clock_type::duration>(ticket->wait);
    auto now = clock_type::now();
    if (!ticket->granted) return budget_decided(call, {false, wait}, now); // counted in budget_refusals
    bump(c.counters.shared_reserved);
    c.fallback_share->count(ticket->endpoint, now + wait, now);
    budget_decided(call, {true, wait}, now);
}

} // namespace stripe_asio::detail

#endif
