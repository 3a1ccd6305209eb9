// The fake Stripe server's certificates, made with the OpenSSL 3 EVP/X509 API (see certificates.hpp).
#include "certificates.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

#include <unistd.h>

namespace stripe_asio::testing::detail {

[[noreturn]] void throw_openssl(const char* what) {
    char reason[256] = "unknown error";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(std::string("fake_stripe: ") + what + ": " + reason);
}

void check_openssl(int ok, const char* what) {
    if (ok <= 0) throw_openssl(what);
}

namespace {

struct openssl_free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
template <class T>
using openssl_ptr = std::unique_ptr<T, openssl_free>;

openssl_ptr<EVP_PKEY> make_p256_key() {
    openssl_ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) throw_openssl("EC P-256 key generation");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    openssl_ptr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    if (!ext) throw_openssl(value);
    check_openssl(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

/// A certificate for `key`, valid from an hour ago for 30 days. No issuer: self-signed CA.
openssl_ptr<X509> make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                                   const std::string& alt_names = {}) {
    openssl_ptr<X509> cert(X509_new());
    if (!cert) throw_openssl("X509_new");
    check_openssl(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

    openssl_ptr<BIGNUM> serial(BN_new());
    if (!serial) throw_openssl("BN_new");
    check_openssl(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ODD), "BN_rand");
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) throw_openssl("serial number");

    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600))
        throw_openssl("validity");
    check_openssl(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    check_openssl(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0),
                  "subject name");
    check_openssl(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject), "issuer name");

    X509* signer = issuer ? issuer : cert.get();
    if (!issuer) {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    } else {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
        add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
        add_extension(cert.get(), signer, NID_subject_alt_name, alt_names.c_str());
        add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
        add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    }
    check_openssl(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()), "X509_sign");
    return cert;
}

std::string to_pem(X509* cert, EVP_PKEY* key) {
    openssl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio) throw_openssl("BIO_new");
    if (cert) check_openssl(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
    if (key)
        check_openssl(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
                      "PEM_write_bio_PrivateKey");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

/// "DNS:localhost,IP:127.0.0.1,..." from plain names and addresses.
std::string subject_alt_names(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) {
        boost::system::error_code not_ip;
        boost::asio::ip::make_address(name, not_ip);
        if (!out.empty()) out += ',';
        out += (not_ip ? "DNS:" : "IP:") + name;
    }
    return out;
}

} // namespace

generated_pki make_pki(const std::vector<std::string>& names) {
    auto ca_key = make_p256_key();
    auto ca = make_certificate(ca_key.get(), "stripe-asio fake CA", nullptr, nullptr);
    auto server_key = make_p256_key();
    auto server = make_certificate(server_key.get(), names.empty() ? "localhost" : names.front().c_str(), ca.get(),
                                   ca_key.get(), subject_alt_names(names));
    return {to_pem(ca.get(), nullptr), to_pem(server.get(), nullptr), to_pem(nullptr, server_key.get())};
}

/// Writes `content` to a fresh private file under $TMPDIR (or /tmp) and returns its path.
std::string write_temp_file(const std::string& content) {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir && *dir ? dir : "/tmp") + "/stripe-asio-fake-ca-XXXXXX.pem";
    int fd = ::mkstemps(path.data(), 4);
    if (fd < 0) throw std::runtime_error("fake_stripe: cannot create a temporary file for the CA in " + path);
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n <= 0) {
            ::close(fd);
            ::unlink(path.c_str());
            throw std::runtime_error("fake_stripe: cannot write " + path);
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return path;
}

} // namespace stripe_asio::testing::detail
