// An in-memory PKI for the hostile TLS tests: one root CA the client trusts, and server
// identities that are good, or wrong in exactly one way each.
#ifndef STRIPE_ASIO_TEST_PKI_HPP
#define STRIPE_ASIO_TEST_PKI_HPP

#include <string>

namespace test_pki {

/// What a TLS server presents: its certificate chain (leaf first, then any intermediates it
/// sends) and the leaf's private key, both PEM.
struct server_identity {
    std::string chain_pem;
    std::string key_pem;
};

/// A root CA and the identities made under it. All are for the IP address 127.0.0.1 unless
/// the name says otherwise. Building one takes a few milliseconds (one RSA-1024 key).
class authority {
public:
    authority();

    /// The root's certificate: what the client trusts (config::ca_pem).
    const std::string& ca_pem() const noexcept { return ca_pem_; }

    /// Leaf for 127.0.0.1 signed by the root: verifies.
    const server_identity& good() const noexcept { return good_; }
    /// Leaf signed by an intermediate under the root, the intermediate sent too: verifies.
    const server_identity& via_sent_intermediate() const noexcept { return via_sent_intermediate_; }

    /// Signed by the root, but its only name is DNS:other.example.
    const server_identity& wrong_name() const noexcept { return wrong_name_; }
    /// notAfter a day in the past.
    const server_identity& expired() const noexcept { return expired_; }
    /// notBefore a day in the future.
    const server_identity& not_yet_valid() const noexcept { return not_yet_valid_; }
    /// For 127.0.0.1, but signed by its own key: no CA vouches for it.
    const server_identity& self_signed() const noexcept { return self_signed_; }
    /// Signed by an intermediate (under the root) that the server does not send and the client
    /// does not hold: no chain can be built.
    const server_identity& unsent_intermediate() const noexcept { return unsent_intermediate_; }
    /// Signed by the root, but with an RSA-1024 key, below OpenSSL's default security level.
    const server_identity& weak_key() const noexcept { return weak_key_; }

private:
    std::string ca_pem_;
    server_identity good_, via_sent_intermediate_, wrong_name_, expired_, not_yet_valid_, self_signed_,
        unsent_intermediate_, weak_key_;
};

/// One authority for the whole test run (made on first use; thread-safe).
const authority& shared();

} // namespace test_pki

#endif
