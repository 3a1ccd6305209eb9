// The fake Stripe server's certificates: a CA and a server certificate made in memory at start
// (so no private key ever lives in the repository), the CA's file for clients, and OpenSSL
// failures as exceptions.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_CERTIFICATES_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_CERTIFICATES_HPP

#include <string>
#include <vector>

namespace stripe_asio::testing::detail {

struct generated_pki {
    std::string ca_pem, cert_pem, key_pem;
};

/// A fresh CA, and a server certificate it signed for `names` (DNS names or IP addresses; the
/// first is the common name), both EC P-256, valid from an hour ago for 30 days.
generated_pki make_pki(const std::vector<std::string>& names);

/// Writes `content` to a fresh private file under $TMPDIR (or /tmp) and returns its path.
std::string write_temp_file(const std::string& content);

/// Throws std::runtime_error naming `what` and OpenSSL's first queued error.
[[noreturn]] void throw_openssl(const char* what);

/// throw_openssl(what) unless `ok` is positive, OpenSSL's success.
void check_openssl(int ok, const char* what);

} // namespace stripe_asio::testing::detail

#endif
