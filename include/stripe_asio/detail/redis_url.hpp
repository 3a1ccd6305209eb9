// Where a Redis server is, from its URL (redis:// or rediss://), as the shared rate budget's
// configuration names it. Sans-io, and without hiredis: a configuration is checked in any build.
#ifndef STRIPE_ASIO_DETAIL_REDIS_URL_HPP
#define STRIPE_ASIO_DETAIL_REDIS_URL_HPP

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

/// Where a Redis server is, from redis://[[user]:password@]host[:port][/db].
struct redis_endpoint {
    std::string host;
    std::string port = "6379";
    std::string user; ///< empty: AUTH with the password alone (Redis before 6)
    std::string password; ///< empty: no AUTH
    int db = 0;
    bool tls = false; ///< rediss://: TLS, the server's certificate verified for `host`
};

/// Parses a redis:// or rediss:// URL; nullopt, with the reason in `why`, for anything else.
/// The reason never holds the password.
inline std::optional<redis_endpoint> parse_redis_url(std::string_view url, std::string& why) {
    redis_endpoint ep;
    if (url.starts_with("rediss://")) {
        ep.tls = true;
        url.remove_prefix(9);
    } else if (url.starts_with("redis://")) {
        url.remove_prefix(8);
    } else {
        why = "a Redis URL starts with redis:// or rediss://";
        return std::nullopt;
    }
    std::string_view path;
    if (auto slash = url.find('/'); slash != std::string_view::npos) {
        path = url.substr(slash + 1);
        url = url.substr(0, slash);
    }
    if (auto at = url.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = url.substr(0, at);
        url.remove_prefix(at + 1);
        auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            ep.password = std::string(userinfo); // redis://password@host, as some clients take it
        } else {
            ep.user = std::string(userinfo.substr(0, colon));
            ep.password = std::string(userinfo.substr(colon + 1));
        }
    }
    std::string_view host = url, port;
    if (!url.empty() && url.front() == '[') {
        auto close = url.find(']');
        if (close == std::string_view::npos) {
            why = "the Redis URL has an unclosed IPv6 bracket";
            return std::nullopt;
        }
        host = url.substr(1, close - 1);
        if (close + 1 < url.size()) {
            if (url[close + 1] != ':') {
                why = "the Redis URL has junk after the IPv6 address";
                return std::nullopt;
            }
            port = url.substr(close + 2);
        }
    } else if (auto colon = url.find(':'); colon != std::string_view::npos) {
        host = url.substr(0, colon);
        port = url.substr(colon + 1);
    }
    if (host.empty()) {
        why = "the Redis URL has no host";
        return std::nullopt;
    }
    ep.host = std::string(host);
    auto digits = [](std::string_view s) {
        return !s.empty() && s.size() <= 5 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!port.empty()) {
        if (!digits(port) || std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
            why = "the Redis URL's port must be 1 to 65535";
            return std::nullopt;
        }
        ep.port = std::string(port);
    }
    if (!path.empty()) {
        if (!digits(path) || std::stoi(std::string(path)) > 15999) {
            why = "the Redis URL's database must be a number";
            return std::nullopt;
        }
        ep.db = std::stoi(std::string(path));
    }
    return ep;
}

} // namespace stripe_asio::detail

#endif
