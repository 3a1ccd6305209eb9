// Certificates made with the OpenSSL 3 EVP and X509 APIs, in memory.
#include "integration/test_pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace test_pki {

namespace {

struct openssl_free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
template <class T>
using owned = std::unique_ptr<T, openssl_free>;

[[noreturn]] void fail(const char* what) {
    char reason[256] = "unknown error";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(std::string("test_pki: ") + what + ": " + reason);
}

void check(int ok, const char* what) {
    if (ok <= 0) fail(what);
}

owned<EVP_PKEY> p256_key() {
    owned<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) fail("P-256 key");
    return key;
}

owned<EVP_PKEY> rsa_key(std::size_t bits) {
    owned<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
    if (!key) fail("RSA key");
    return key;
}

constexpr long day = 24 * 3600;

/// What to put in one certificate.
struct cert_spec {
    const char* common_name = "127.0.0.1";
    const char* alt_names = "IP:127.0.0.1"; ///< leaves only
    bool ca = false;
    long not_before = -3600; ///< seconds from now
    long not_after = 30 * day;
};

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    owned<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    if (!ext) fail(value);
    check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

/// A certificate for `key`, signed by `issuer_key` under `issuer`; both null: self-signed.
owned<X509> issue(const cert_spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    owned<X509> cert(X509_new());
    if (!cert) fail("X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3), "version");

    owned<BIGNUM> serial(BN_new());
    if (!serial) fail("BN_new");
    check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ODD), "serial");
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) fail("serial");

    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after))
        fail("validity");
    check(X509_set_pubkey(cert.get(), key), "public key");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(spec.common_name), -1, -1, 0),
          "subject");
    check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject), "issuer");

    // Extensions name the issuer (for the authority key id); a self-signed one is its own.
    X509* signer = issuer ? issuer : cert.get();
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (spec.ca) {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
        add_extension(cert.get(), signer, NID_subject_alt_name, spec.alt_names);
    }
    if (issuer) add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()), "sign");
    return cert;
}

std::string pem_of(X509* cert) {
    owned<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio) fail("BIO_new");
    check(PEM_write_bio_X509(bio.get(), cert), "PEM certificate");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
    owned<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio) fail("BIO_new");
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), "PEM key");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

/// A leaf for `spec` with a fresh P-256 key (or `key`), signed by `issuer`.
server_identity leaf(const cert_spec& spec, X509* issuer, EVP_PKEY* issuer_key, owned<EVP_PKEY> key = p256_key()) {
    auto cert = issue(spec, key.get(), issuer, issuer_key);
    return {pem_of(cert.get()), pem_of(key.get())};
}

} // namespace

authority::authority() {
    auto root_key = p256_key();
    cert_spec root_spec;
    root_spec.common_name = "stripe-asio hostile test root";
    root_spec.ca = true;
    root_spec.not_after = 365 * day;
    auto root = issue(root_spec, root_key.get(), nullptr, nullptr);
    ca_pem_ = pem_of(root.get());

    cert_spec leaf_spec;
    good_ = leaf(leaf_spec, root.get(), root_key.get());

    auto intermediate_key = p256_key();
    cert_spec intermediate_spec;
    intermediate_spec.common_name = "stripe-asio hostile test intermediate";
    intermediate_spec.ca = true;
    auto intermediate = issue(intermediate_spec, intermediate_key.get(), root.get(), root_key.get());
    via_sent_intermediate_ = leaf(leaf_spec, intermediate.get(), intermediate_key.get());
    via_sent_intermediate_.chain_pem += pem_of(intermediate.get());
    // The same kind of intermediate, but the server keeps it to itself.
    unsent_intermediate_ = leaf(leaf_spec, intermediate.get(), intermediate_key.get());

    cert_spec other_name;
    other_name.common_name = "other.example";
    other_name.alt_names = "DNS:other.example";
    wrong_name_ = leaf(other_name, root.get(), root_key.get());

    cert_spec past;
    past.not_before = -30 * day;
    past.not_after = -day;
    expired_ = leaf(past, root.get(), root_key.get());

    cert_spec future;
    future.not_before = day;
    future.not_after = 30 * day;
    not_yet_valid_ = leaf(future, root.get(), root_key.get());

    self_signed_ = leaf(leaf_spec, nullptr, nullptr);
    weak_key_ = leaf(leaf_spec, root.get(), root_key.get(), rsa_key(1024));
}

const authority& shared() {
    static const authority instance;
    return instance;
}

} // namespace test_pki
