#ifndef STRIPE_ASIO_ERROR_WITH_DIAGNOSTICS_HPP
#define STRIPE_ASIO_ERROR_WITH_DIAGNOSTICS_HPP

#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>

#include <boost/system/system_error.hpp>

#include <utility>

namespace stripe_asio {

/// Thrown by the default completion token: the error_code and everything else known.
class error_with_diagnostics : public boost::system::system_error {
public:
    error_with_diagnostics(error_code ec, diagnostics diag)
        : boost::system::system_error(make(ec, diag)), diag_(std::move(diag)) {}

    const diagnostics& get_diagnostics() const noexcept { return diag_; }

private:
    static boost::system::system_error make(const error_code& ec, const diagnostics& diag) {
        std::string details = diag.to_string();
        return details.empty() ? boost::system::system_error(ec) : boost::system::system_error(ec, details);
    }

    diagnostics diag_;
};

} // namespace stripe_asio

#endif
