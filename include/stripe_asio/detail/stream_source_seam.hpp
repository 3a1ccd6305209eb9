// For tests: a client whose connections come from the test's stream source (a scripted peer in
// memory, say) rather than TLS over TCP. See impl/internal/byte_stream.hpp.
#ifndef STRIPE_ASIO_DETAIL_STREAM_SOURCE_SEAM_HPP
#define STRIPE_ASIO_DETAIL_STREAM_SOURCE_SEAM_HPP

#include <stripe_asio/detail/client_access.hpp>
#include <stripe_asio/detail/decl.hpp>

namespace stripe_asio::detail {

class stream_source;

/// Gives `c` a stream source (null: TLS over TCP again). The source must outlive the client's
/// connections.
STRIPE_ASIO_DECL void set_stream_source(client_impl& c, stream_source* source) noexcept;

/// Gives the client a stream source, on its own executor's thread before any call.
template <class Client>
void set_stream_source(Client& c, stream_source* source) noexcept {
    if (client_impl* impl = client_access::impl(c)) set_stream_source(*impl, source);
}

} // namespace stripe_asio::detail

#endif
