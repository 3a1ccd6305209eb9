// The shared rate budget's one Redis round trip: a Lua script that reserves a send time in two
// GCRA cells at once, the account's and the endpoint's, or in neither, by Redis's own clock
// (TIME), so every server of a fleet draws on the same budget without trusting its own clock.
// A cell is one key holding its theoretical arrival time in microseconds since the epoch, with
// an expiry once it is in the past (an idle budget leaves nothing behind). Sans-io: the text, its
// SHA-1 for EVALSHA, and its arguments.
#ifndef STRIPE_ASIO_DETAIL_SHARED_BUDGET_SCRIPT_HPP
#define STRIPE_ASIO_DETAIL_SHARED_BUDGET_SCRIPT_HPP

#include <stripe_asio/detail/resp.hpp>

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

/// KEYS[1], KEYS[2]: the account's and the endpoint's cells. ARGV[1..4]: each cell's interval
/// and burst tolerance, in microseconds; ARGV[5]: the longest wait to reserve, in microseconds.
/// Reply: {1, wait} reserved (send in `wait` us), or {0, wait} nothing reserved (room only in
/// `wait` us, more than the longest allowed). Lua numbers are doubles: microseconds since the
/// epoch (about 2^51) stay exact.
inline constexpr std::string_view shared_budget_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat1 = tonumber(redis.call('GET', KEYS[1])) or now
local tat2 = tonumber(redis.call('GET', KEYS[2])) or now
local i1, tol1 = tonumber(ARGV[1]), tonumber(ARGV[2])
local i2, tol2 = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local at = math.max(now, tat1 - tol1, tat2 - tol2)
local wait = at - now
if wait > max_wait then return {0, wait} end
local n1 = math.max(tat1, at) + i1
local n2 = math.max(tat2, at) + i2
redis.call('SET', KEYS[1], string.format('%d', n1), 'PX', math.floor((n1 - now) / 1000) + 1000)
redis.call('SET', KEYS[2], string.format('%d', n2), 'PX', math.floor((n2 - now) / 1000) + 1000)
return {1, wait}
)lua";

/// `n` bytes as lowercase hex, as Redis writes a script's SHA-1.
inline std::string lower_hex(const unsigned char* bytes, std::size_t n) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += hex[bytes[i] >> 4];
        out += hex[bytes[i] & 15];
    }
    return out;
}

/// The script's SHA-1 in hex, as SCRIPT LOAD answers and EVALSHA takes it.
inline std::string shared_budget_script_sha1() {
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(shared_budget_script.data()), shared_budget_script.size(),
         digest.data());
    return lower_hex(digest.data(), digest.size());
}

/// One cell's arguments: its interval and tolerance, in whole microseconds (at least 1).
struct shared_cell_args {
    std::int64_t interval_us;
    std::int64_t tolerance_us;
};

inline shared_cell_args shared_cell_for(double per_second, double burst) noexcept {
    double interval = 1e6 / per_second;
    return {std::max<std::int64_t>(1, static_cast<std::int64_t>(interval)),
            static_cast<std::int64_t>(interval * (std::max(burst, 1.0) - 1))};
}

/// What the script answered: reserved (send after `wait`), or not (room only after `wait`).
struct shared_reservation {
    bool granted = false;
    std::chrono::microseconds wait{};
};

/// One reservation as a command: EVALSHA, or after NOSCRIPT, SCRIPT LOAD then EVALSHA (two
/// replies, the second the answer). `account_key` and `endpoint_key` are the cells' keys.
inline void append_reservation(std::string& out, std::string_view sha1, std::string_view account_key,
                               std::string_view endpoint_key, shared_cell_args account, shared_cell_args endpoint,
                               std::int64_t max_wait_us, bool load_first) {
    if (load_first) append_command(out, {"SCRIPT", "LOAD", shared_budget_script});
    append_command(out, {"EVALSHA", sha1, "2", account_key, endpoint_key, std::to_string(account.interval_us),
                         std::to_string(account.tolerance_us), std::to_string(endpoint.interval_us),
                         std::to_string(endpoint.tolerance_us), std::to_string(max_wait_us)});
}

/// Whether Redis answered that it does not hold the script (a restart, SCRIPT FLUSH, a failover).
inline bool is_noscript(const resp_value& v) noexcept {
    return v.is_error() && std::string_view(v.text).starts_with("NOSCRIPT");
}

/// The longest wait a question carries (a year stands for "no limit"), and the longest a
/// refusal reports: a clock duration in nanoseconds holds it many times over, so no answer can
/// overflow on its way to the call's timer.
inline constexpr std::int64_t longest_wait_us = std::int64_t(86'400) * 1'000'000 * 365;

/// The script's answer to a question that carried `max_wait_us`, or nullopt for anything the
/// script cannot have answered: an error, a wrong shape, a negative wait, a grant whose wait
/// passes `max_wait_us` or a refusal whose wait does not. The caller treats that as Redis being
/// unusable for this reservation. A refusal's wait (only reported) is cut to longest_wait_us.
inline std::optional<shared_reservation> read_reservation(const resp_value& v, std::int64_t max_wait_us) noexcept {
    using kind = resp_value::kind;
    if (v.type != kind::array || v.elements.size() != 2) return std::nullopt;
    const resp_value &flag = v.elements[0], &wait = v.elements[1];
    if (flag.type != kind::integer || wait.type != kind::integer) return std::nullopt;
    if ((flag.integer != 0 && flag.integer != 1) || wait.integer < 0) return std::nullopt;
    const bool granted = flag.integer == 1;
    max_wait_us = std::clamp<std::int64_t>(max_wait_us, 0, longest_wait_us);
    if (granted != (wait.integer <= max_wait_us)) return std::nullopt;
    return shared_reservation{granted,
                              std::chrono::microseconds(std::min<std::int64_t>(wait.integer, longest_wait_us))};
}

} // namespace stripe_asio::detail

#endif
