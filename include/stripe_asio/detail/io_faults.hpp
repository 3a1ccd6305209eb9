// Faults at the engine's I/O points, for tests: the Nth operation a client starts (name lookup,
// connect, TLS handshake, write, read, a call's timer wait) fails with an error of its kind, or
// runs the test's hook and then goes ahead. A test walks N = 0, 1, 2... until a run goes by
// untouched, as Beast's fail_count does over its test stream; here the operations are the real
// ones, over TLS on loopback. A client without a plan pays one pointer test per operation.
#ifndef STRIPE_ASIO_DETAIL_IO_FAULTS_HPP
#define STRIPE_ASIO_DETAIL_IO_FAULTS_HPP

#include <stripe_asio/detail/client_access.hpp>
#include <stripe_asio/detail/decl.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>

namespace stripe_asio::detail {

enum class io_point { resolve, connect, handshake, write, read, wait };

inline const char* name(io_point p) noexcept {
    switch (p) {
    case io_point::resolve: return "resolve";
    case io_point::connect: return "connect";
    case io_point::handshake: return "handshake";
    case io_point::write: return "write";
    case io_point::read: return "read";
    case io_point::wait: return "wait";
    }
    return "?";
}

struct io_faults {
    std::size_t fail_at = std::numeric_limits<std::size_t>::max(); ///< 0-based: which operation
    std::size_t started = 0; ///< operations started so far
    bool fired = false;
    io_point fired_at{};
    /// Runs instead of failing the operation, which then goes ahead (a test's cancellation or
    /// shutdown, posted so that it arrives while the operation is pending, as a real one would).
    std::function<void(io_point)> hook;

    /// Called as an operation starts: the error it must complete with, or none.
    boost::system::error_code next(io_point p) {
        if (started++ != fail_at) return {};
        fired = true;
        fired_at = p;
        if (hook) {
            hook(p);
            return {};
        }
        return injected_error(p);
    }

    static boost::system::error_code injected_error(io_point p) noexcept {
        switch (p) {
        case io_point::resolve: return boost::asio::error::host_not_found;
        case io_point::connect: return boost::asio::error::connection_refused;
        case io_point::wait: return boost::asio::error::operation_aborted; // woken early, for nothing
        default: return boost::asio::error::connection_reset;
        }
    }
};

/// Gives `c` a fault plan (null: none). The plan must outlive the client's operations.
STRIPE_ASIO_DECL void set_io_faults(client_impl& c, io_faults* plan) noexcept;

/// Gives the client a fault plan (null: none), on its own executor's thread before any call.
template <class Client>
void set_io_faults(Client& c, io_faults* plan) noexcept {
    if (client_impl* impl = client_access::impl(c)) set_io_faults(*impl, plan);
}

} // namespace stripe_asio::detail

#endif
