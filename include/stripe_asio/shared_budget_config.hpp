// The rate budgets shared by every client of a fleet, kept in Redis: each attempt reserves its
// send time there, in one round trip, so the fleet as a whole stays within Stripe's limits.
// While Redis is down or slow, each client falls back to its share of the budgets.
#ifndef STRIPE_ASIO_SHARED_BUDGET_CONFIG_HPP
#define STRIPE_ASIO_SHARED_BUDGET_CONFIG_HPP

#include <chrono>
#include <cstddef>
#include <string>

namespace stripe_asio {

struct shared_budget_config {
    /// Empty (default): no shared budget; each client keeps its own. Otherwise the Redis
    /// server: redis://[[user]:password@]host[:port][/db], or rediss:// for Redis over TLS, its
    /// certificate verified for the host. Needs a build with STRIPE_ASIO_WITH_REDIS; without
    /// it a URL is an invalid_config.
    std::string url;
    /// rediss:// only: a PEM file, or PEM text, of the CAs to trust for Redis; both empty: the
    /// system's trust store. (Stripe's own connections keep config::ca_file and ca_pem.)
    std::string ca_file;
    std::string ca_pem;
    /// Every key the budget writes starts with this.
    std::string key_prefix = "stripe-asio:";
    /// How the account is named in the keys; empty: by a hash of config::api_key (never the key
    /// itself). Clients sharing a budget must agree on it, as they would with the same key.
    std::string account;
    /// The clients sharing the budget (the fleet's servers times clients per server). While
    /// Redis cannot be reached, each keeps 1/fleet_size of every budget, so the fleet as a whole
    /// stays within them.
    unsigned fleet_size = 1;
    /// Connections to Redis; reservations are pipelined on them.
    std::size_t connections = 2;
    /// Name lookup, TCP, TLS, AUTH and SELECT together. A client just made holds the calls that
    /// come before its first connection attempt ends (this long at most, never past a call's
    /// deadline), so they take room in Redis rather than the local share.
    std::chrono::milliseconds connect_timeout{1000};
    /// A reservation whose answer takes longer is made from the local share instead, and the
    /// connection is dropped and made again.
    std::chrono::milliseconds command_timeout{200};
    /// After a failure, the wait before connecting again doubles from the first to the second.
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
};

} // namespace stripe_asio

#endif
