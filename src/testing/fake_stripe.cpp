// The fake Stripe server: one io_context on its own thread, one coroutine per connection.
//
// Everything that touches sockets runs on the server thread. The test thread only reads atomics,
// takes `mutex` for the fault script, the recorded requests and the idempotency store, posts
// to the server thread for stop() and close_idle_connections(), and waits on `settle_cv` in
// wait_until_settled().
#include <stripe_asio/testing/fake_stripe.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <unistd.h>

namespace stripe_asio::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit = 16 * 1024;
constexpr std::size_t body_limit = 64 * 1024;
constexpr std::size_t first_read_size = 16 * 1024;
// Stripe forgets idempotency keys after a day; we forget the oldest once there are
// options::idempotency_capacity, so a benchmark sending a fresh key per call keeps a flat memory
// profile.
constexpr std::string_view alphanumerics = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// ---------------------------------------------------------------------------------------------
// Small text helpers

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_alnum(char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }

bool all_alnum(std::string_view s) {
    for (char ch : s)
        if (!is_alnum(ch)) return false;
    return true;
}

bool is_account_id(std::string_view s) { return s.size() > 5 && s.starts_with("acct_") && all_alnum(s.substr(5)); }

int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/// Percent-decodes `in` into `out`; `form` also turns '+' into a space. False on a bad escape.
bool percent_decode(std::string_view in, std::string& out, bool form) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        char ch = in[i];
        if (ch == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (ch == '+' && form) {
            out.push_back(' ');
        } else {
            out.push_back(ch);
        }
    }
    return true;
}

/// `expand[]` or `expand[N]`: the only parameters a login-link call takes.
bool is_expand_parameter(std::string_view name) {
    if (!name.starts_with("expand[") || !name.ends_with("]")) return false;
    std::string_view index = name.substr(7, name.size() - 8);
    for (char ch : index)
        if (ch < '0' || ch > '9') return false;
    return true;
}

std::optional<std::string> base64_decode(std::string_view in) {
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (char ch : in) {
        if (ch == '=') break;
        int v;
        if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
        else if (ch == '+' || ch == '-') v = 62;
        else if (ch == '/' || ch == '_') v = 63;
        else return std::nullopt;
        bits = ((bits << 6) | static_cast<std::uint32_t>(v)) & 0xffffffu;
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xffu));
        }
    }
    return out;
}

/// What Stripe prints of a rejected key: its well-known prefix, stars, and the last four
/// characters when the key is long enough that those four give nothing away.
std::string masked_key(std::string_view key) {
    std::string out;
    for (std::string_view prefix : {"sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"}) {
        if (key.starts_with(prefix)) {
            out = prefix;
            key.remove_prefix(prefix.size());
            break;
        }
    }
    out += "****";
    if (key.size() >= 8 && all_alnum(key.substr(key.size() - 4))) out += key.substr(key.size() - 4);
    return out;
}

void append_number(std::string& out, std::uint64_t n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.append(digits, end);
}

bool safe_header_value(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; }

/// {"error":{"type":...,"code":...,"message":...,"param":...}}, empty members left out.
std::string error_json(std::string_view type, std::string_view code, std::string_view message,
                       std::string_view param = {}) {
    json::object error;
    error["type"] = json::string(type);
    if (!code.empty()) error["code"] = json::string(code);
    error["message"] = json::string(message);
    if (!param.empty()) error["param"] = json::string(param);
    json::object root;
    root["error"] = std::move(error);
    return json::serialize(root);
}

/// The error a scripted status with no body answers with.
std::string generic_error(unsigned status) {
    if (status == 429)
        return error_json("invalid_request_error", "rate_limit",
                          "Too many requests hit the API too quickly. We recommend an exponential "
                          "backoff of your requests.");
    if (status >= 500) return error_json("api_error", {}, "An unknown error occurred (scripted by fake_stripe).");
    if (status == 402) return error_json("card_error", {}, "Scripted 402 from fake_stripe.");
    if (status == 409) return error_json("idempotency_error", {}, "Scripted 409 from fake_stripe.");
    return error_json("invalid_request_error", {}, "Scripted " + std::to_string(status) + " from fake_stripe.");
}

const std::string& express_page_head() {
    static const std::string s =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe Express</title></head>"
        "<body><h1>";
    return s;
}

const std::string& expired_page() {
    static const std::string s =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe Express</title></head>"
        "<body><h1>This login link has expired</h1><p>Ask the platform for a new one.</p>"
        "</body></html>";
    return s;
}

/// Random alphanumerics for Request-Ids and link tokens; used on the server thread only.
class alnum_source {
public:
    alnum_source() : gen_(std::random_device{}()) {}

    void fill(char* out, std::size_t n) {
        while (n > 0) {
            std::uint64_t v = gen_();
            // 62^10 < 2^64: ten characters per draw.
            for (int i = 0; i < 10 && n > 0; ++i, --n) {
                *out++ = alphanumerics[v % 62];
                v /= 62;
            }
        }
    }

private:
    std::mt19937_64 gen_;
};

// ---------------------------------------------------------------------------------------------
// Certificates, made with the OpenSSL 3 EVP/X509 API

struct openssl_free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
template <class T>
using openssl_ptr = std::unique_ptr<T, openssl_free>;

[[noreturn]] void throw_openssl(const char* what) {
    char reason[256] = "unknown error";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(std::string("fake_stripe: ") + what + ": " + reason);
}

void check(int ok, const char* what) {
    if (ok <= 0) throw_openssl(what);
}

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
    check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

/// A certificate for `key`, valid from an hour ago for 30 days. No issuer: self-signed CA.
openssl_ptr<X509> make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                                   const std::string& alt_names = {}) {
    openssl_ptr<X509> cert(X509_new());
    if (!cert) throw_openssl("X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

    openssl_ptr<BIGNUM> serial(BN_new());
    if (!serial) throw_openssl("BN_new");
    check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ODD), "BN_rand");
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) throw_openssl("serial number");

    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600))
        throw_openssl("validity");
    check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name),
                                     -1, -1, 0),
          "subject name");
    check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject), "issuer name");

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
    check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()), "X509_sign");
    return cert;
}

std::string to_pem(X509* cert, EVP_PKEY* key) {
    openssl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio) throw_openssl("BIO_new");
    if (cert) check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
    if (key)
        check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
              "PEM_write_bio_PrivateKey");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

struct generated_pki {
    std::string ca_pem, cert_pem, key_pem;
};

/// "DNS:localhost,IP:127.0.0.1,..." from plain names and addresses.
std::string subject_alt_names(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) {
        boost::system::error_code not_ip;
        asio::ip::make_address(name, not_ip);
        if (!out.empty()) out += ',';
        out += (not_ip ? "DNS:" : "IP:") + name;
    }
    return out;
}

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

/// Offer HTTP/1.1 when the client uses ALPN (curl offers h2 first), otherwise stay silent.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                  void*) {
    static const unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

// -------------------------------------------------------------------------------------------------
// fault and received_request

fault fault::stripe_error(unsigned status, std::string type, std::string code, std::string message) {
    fault f;
    f.status = status;
    f.body = error_json(type, code, message);
    return f;
}

fault fault::stripe_error_should_retry(unsigned status, bool should_retry, std::string type, std::string code) {
    fault f = stripe_error(status, std::move(type), std::move(code));
    f.headers.emplace_back("Stripe-Should-Retry", should_retry ? "true" : "false");
    return f;
}

fault fault::with(action a) {
    fault f;
    f.what = a;
    return f;
}

fault fault::delayed(std::chrono::milliseconds d) {
    fault f;
    f.delay = d;
    return f;
}

std::string received_request::header(const std::string& name) const {
    for (const auto& [n, v] : headers)
        if (beast::iequals(n, name)) return v;
    return {};
}

// -------------------------------------------------------------------------------------------------
// The server

struct fake_stripe::impl {
    struct connection {
        connection(impl& server, std::uint64_t id, tcp::socket socket)
            : id(id), stream(std::move(socket), server.ssl), idle_timer(stream.get_executor()),
              delay_timer(stream.get_executor()) {}

        /// An abortive close: SO_LINGER 0 makes the kernel send RST instead of FIN.
        void reset() {
            if (closed) return;
            closed = true;
            boost::system::error_code ignored;
            stream.next_layer().set_option(tcp::socket::linger(true, 0), ignored);
            stream.next_layer().close(ignored);
            idle_timer.cancel();
            delay_timer.cancel();
        }

        /// Plain TCP close (no close_notify): pending operations finish with an error.
        void close() {
            if (closed) return;
            closed = true;
            boost::system::error_code ignored;
            stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
            stream.next_layer().close(ignored);
            idle_timer.cancel();
            delay_timer.cancel();
        }

        std::uint64_t id;
        beast::ssl_stream<tcp::socket> stream;
        asio::steady_timer idle_timer;
        asio::steady_timer delay_timer;
        beast::flat_buffer buffer;
        std::optional<http::request_parser<http::string_body>> parser;
        std::string body; // the response body being sent
        std::string out; // the response bytes being sent
        std::string scratch; // percent-decoding
        std::string delivery_key; // Idempotency-Key of the intact answer being sent
        std::string stray; // what duplicate_response / trailing_garbage add to an answer
        std::size_t sent = 0; // bytes the last send() wrote
        // A stray copy or junk went out in a write of its own: the client may already have taken
        // it for the next answer, so every answer after it on this connection is out of step.
        bool stray_sent = false;
        std::size_t served = 0;
        std::uint64_t idle_generation = 0;
        bool waiting = false; // between requests: nothing of the next one has arrived
        bool close_at_idle = false; // close_idle_connections() came while it was busy
        bool closed = false;
    };

    /// How one request is answered; the body is in connection::body.
    struct reply {
        fault::action what = fault::action::respond;
        unsigned status = 200;
        std::string_view content_type = "application/json";
        std::chrono::milliseconds delay{0};
        std::chrono::milliseconds hang_for{0};
        std::size_t oversized_bytes = 0;
        std::vector<std::pair<std::string, std::string>> extra_headers;
        bool intact = false; // a stored 200 login link, counted against delivery_key
        bool stray_separate = false; // the stray part goes in a write of its own
        bool keep_alive = true;
        bool replayed = false;
        bool login_call = false;
    };

    struct stored_answer {
        std::string fingerprint;
        unsigned status;
        std::string body;
        std::list<const std::string*>::iterator age; // its place in idempotency_order
        key_deliveries delivered; // intact answers sent for it
    };

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    explicit impl(options o) : opts(std::move(o)) {}

    // ---- configuration, immutable once the thread runs
    options opts;
    std::string ca_pem;
    std::string ca_file;
    std::string base_url;
    unsigned short port = 0;
    std::uint64_t token_key[2] = {0, 0};

    // ---- shared with the test thread
    mutable std::mutex mutex; // guards the members below, up to the atomics
    std::deque<fault> faults;
    std::vector<received_request> recorded;
    std::unordered_map<std::string, stored_answer, string_hash, std::equal_to<>> idempotency;
    std::list<const std::string*> idempotency_order; // oldest first; points at the map's keys
    std::size_t keys_delivered = 0; // remembered keys with a delivery
    std::unordered_set<std::string> used_tokens;

    std::atomic<std::size_t> login_calls{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::size_t> open{0};
    std::atomic<std::size_t> waiting_now{0}; // open connections idle between requests
    std::atomic<std::size_t> closing_at_idle{0}; // marked by close_idle(), not yet gone
    std::atomic<std::size_t> peak{0};
    std::atomic<std::uint64_t> intact_delivered{0};
    std::atomic<std::uint64_t> random_counts[random_fault_kinds] = {};
    std::atomic<std::uint64_t> scripted_count{0};
    std::atomic<std::uint64_t> hangs_expired{0};

    // wait_until_settled(): the server thread notifies only while someone waits.
    mutable std::mutex settle_mutex;
    mutable std::condition_variable settle_cv;
    mutable std::atomic<int> settle_watchers{0};

    // ---- server thread only
    std::unordered_set<connection*> connections;
    alnum_source random;
    std::mt19937_64 fault_random{opts.random_faults.seed};
    bool stopping = false;

    // Declared after everything the coroutines touch: destroying the io_context destroys any
    // coroutine frame still pending, and their cleanup must find these members alive.
    asio::ssl::context ssl{asio::ssl::context::tls_server};
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};

    std::mutex lifecycle; // serialises stop() and close_idle_connections()
    bool stopped = false;
    std::thread thread;

    void start();
    void shutdown();
    void close_idle();

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> run_connection(std::shared_ptr<connection> self);
    asio::awaitable<void> converse(const std::shared_ptr<connection>& self);
    asio::awaitable<bool> answer(const std::shared_ptr<connection>& self);
    asio::awaitable<void> hang(const std::shared_ptr<connection>& self, std::chrono::milliseconds hang_for);
    asio::awaitable<bool> send(connection& c);
    asio::awaitable<bool> send_oversized(connection& c, const request& req, const reply& r);

    void settle_changed();
    std::optional<fault> draw_random_fault();
    void count_delivered(std::string_view key, long in_step, long behind_stray);

    void arm_idle(const std::shared_ptr<connection>& c);
    void disarm_idle(connection& c);

    void decide(connection& c, const request& req, reply& r);
    bool authorized(connection& c, const request& req, reply& r);
    void express(connection& c, std::string_view path, reply& r);
    void not_found(connection& c, const request& req, std::string_view path, reply& r);
    void login_link_body(connection& c, std::string_view account);
    void remember(std::string_view key, std::string fingerprint, const std::string& body);
    std::string make_token(std::string_view account);
    bool token_valid(std::string_view account, std::string_view token) const;
    std::uint64_t token_mac(std::string_view account, std::string_view nonce) const;
    void write_head(connection& c, const request& req, const reply& r, std::size_t length);
    void record(const connection& c, const request& req, unsigned status, bool replayed);
};

void fake_stripe::impl::start() {
    std::string cert_pem = opts.cert_pem;
    std::string key_pem = opts.key_pem;
    if (cert_pem.empty() || key_pem.empty()) {
        auto pki = make_pki(opts.certificate_names);
        ca_pem = std::move(pki.ca_pem);
        cert_pem = std::move(pki.cert_pem);
        key_pem = std::move(pki.key_pem);
    }

    SSL_CTX* ctx = ssl.native_handle();
    ssl.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    check(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "TLS 1.2 minimum");
    ssl.use_certificate_chain(asio::buffer(cert_pem));
    ssl.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
    // Session resumption: the server-side session cache and tickets are OpenSSL's defaults; a
    // session id context keeps cached sessions usable whatever the verify mode.
    static const unsigned char session_context[] = "stripe-asio fake_stripe";
    check(SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1), "session id context");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    // OpenSSL keeps 20,480 sessions by default (megabytes); a soak test opening thousands of
    // connections would see the server's memory grow for a long while.
    SSL_CTX_sess_set_cache_size(ctx, 1024);
    SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);

    if (RAND_bytes(reinterpret_cast<unsigned char*>(token_key), sizeof token_key) != 1) throw_openssl("RAND_bytes");

    auto address = asio::ip::make_address(opts.listen_address);
    tcp::endpoint endpoint(address, opts.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();

    std::string host;
    if (address.is_unspecified()) host = address.is_v4() ? "127.0.0.1" : "[::1]";
    else if (address.is_v6()) host = "[" + address.to_string() + "]";
    else host = address.to_string();
    base_url = "https://" + host + ":" + std::to_string(port);

    if (!ca_pem.empty()) ca_file = write_temp_file(ca_pem);

    asio::co_spawn(ioc, accept_loop(), asio::detached);
    try {
        thread = std::thread([this] {
            for (;;) {
                try {
                    ioc.run();
                    return;
                } catch (...) {
                    // A handler threw outside a connection; keep serving the others.
                }
            }
        });
    } catch (...) {
        if (!ca_file.empty()) ::unlink(ca_file.c_str());
        throw;
    }
}

void fake_stripe::impl::shutdown() {
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (connection* c : connections) c->close();
}

void fake_stripe::impl::close_idle() {
    // A connection still finishing an answer closes as soon as it is idle, before reading
    // anything more: to its client, exactly like one closed while idle.
    for (connection* c : connections) {
        if (c->waiting) {
            c->close();
        } else if (!c->close_at_idle && !c->closed) {
            c->close_at_idle = true;
            closing_at_idle.fetch_add(1);
        }
    }
}

asio::awaitable<void> fake_stripe::impl::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (stopping) co_return;
        if (ec) {
            if (!acceptor.is_open()) co_return;
            // Out of descriptors or similar: back off instead of spinning.
            asio::steady_timer pause(ioc, std::chrono::milliseconds(10));
            co_await pause.async_wait(nothrow);
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);

        auto c = std::make_shared<connection>(*this, accepted.fetch_add(1) + 1, std::move(socket));
        connections.insert(c.get());
        std::size_t now_open = open.fetch_add(1) + 1;
        std::size_t seen = peak.load();
        while (now_open > seen && !peak.compare_exchange_weak(seen, now_open)) {
        }
        asio::co_spawn(ioc, run_connection(std::move(c)), asio::detached);
    }
}

asio::awaitable<void> fake_stripe::impl::run_connection(std::shared_ptr<connection> self) {
    // Runs also when the frame is destroyed unfinished (io_context torn down).
    struct deregister {
        impl& server;
        connection* c;
        ~deregister() {
            if (c->close_at_idle) server.closing_at_idle.fetch_sub(1);
            server.connections.erase(c);
            server.open.fetch_sub(1);
            server.settle_changed();
        }
    } guard{*this, self.get()};
    try {
        co_await converse(self);
    } catch (const std::exception&) {
        // Allocation failure or similar: drop this connection only.
    }
    self->close();
}

void fake_stripe::impl::arm_idle(const std::shared_ptr<connection>& c) {
    if (opts.idle_timeout.count() <= 0) return;
    c->idle_timer.expires_after(opts.idle_timeout);
    c->idle_timer.async_wait([c, generation = c->idle_generation](boost::system::error_code ec) {
        // The generation check ignores an expiry that raced with the read completing.
        if (!ec && c->idle_generation == generation) c->close();
    });
}

void fake_stripe::impl::disarm_idle(connection& c) {
    ++c.idle_generation;
    if (opts.idle_timeout.count() > 0) c.idle_timer.cancel();
}

asio::awaitable<void> fake_stripe::impl::converse(const std::shared_ptr<connection>& self) {
    connection& c = *self;
    arm_idle(self);
    auto [handshake_ec] = co_await c.stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    disarm_idle(c);
    if (handshake_ec || c.closed) co_return;

    for (;;) {
        if (c.buffer.size() == 0) {
            // Idle between requests: this is where the idle timeout and close_idle_connections()
            // apply. A request counts as started once its first byte has arrived.
            if (c.close_at_idle) co_return;
            c.waiting = true;
            waiting_now.fetch_add(1);
            settle_changed();
            arm_idle(self);
            auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(first_read_size), nothrow);
            c.waiting = false;
            waiting_now.fetch_sub(1);
            disarm_idle(c);
            if (ec || c.closed) co_return;
            c.buffer.commit(n);
        }

        c.parser.emplace();
        c.parser->header_limit(header_limit);
        c.parser->body_limit(body_limit);
        auto [ec, n] = co_await http::async_read_header(c.stream, c.buffer, *c.parser, nothrow);
        if (!ec && !c.parser->is_done()) {
            if (beast::iequals(c.parser->get()[http::field::expect], "100-continue")) {
                static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
                auto [wec, wn] =
                    co_await asio::async_write(c.stream, asio::buffer(go_on.data(), go_on.size()), nothrow);
                if (wec) co_return;
            }
            std::tie(ec, n) = co_await http::async_read(c.stream, c.buffer, *c.parser, nothrow);
        }
        if (c.closed) co_return;

        if (ec) {
            // Limits and malformed requests get an answer and a close; transport errors and a
            // client that went away mid-request just end the connection.
            unsigned status;
            if (ec == http::error::body_limit || ec == http::error::header_limit) status = 413;
            else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                     ec != http::error::end_of_stream && ec != http::error::partial_message)
                status = 400;
            else co_return;
            const request& req = c.parser->get();
            if (opts.record_requests && c.parser->is_header_done()) record(c, req, status, false);
            reply r;
            r.status = status;
            r.keep_alive = false;
            c.body = status == 413 ? error_json("invalid_request_error", {},
                                                "Request too large: headers are limited to 16 KiB and "
                                                "bodies to 64 KiB.")
                                   : error_json("invalid_request_error", {}, "Malformed HTTP request: " + ec.message());
            write_head(c, req, r, c.body.size());
            c.out += c.body;
            co_await send(c);
            co_return;
        }

        if (!co_await answer(self) || c.closed) co_return;
    }
}

asio::awaitable<bool> fake_stripe::impl::send(connection& c) {
    auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(c.out), nothrow);
    c.sent = n;
    // An oversized answer should not pin megabytes to a long-lived connection.
    if (c.out.capacity() > 1024 * 1024) {
        std::string().swap(c.out);
        std::string().swap(c.body);
    }
    co_return !ec;
}

asio::awaitable<bool> fake_stripe::impl::send_oversized(connection& c, const request& req, const reply& r) {
    // Valid JSON when it is big enough to be, so only a size limit can catch it. Streamed from a
    // static filler: megabytes allocated and freed per fault would leave the server's heap
    // fragmented, and a soak test's memory readings with it.
    constexpr std::string_view head = R"({"object":"login_link","url":")";
    const std::size_t n = r.oversized_bytes;
    const std::string_view prefix = head.substr(0, std::min(n, head.size()));
    const std::string_view suffix = n >= head.size() + 2 ? "\"}" : "";
    std::size_t filler = n - prefix.size() - suffix.size();

    write_head(c, req, r, n);
    c.out.append(prefix);
    if (!co_await send(c)) co_return false;
    static const std::string filler_block(16 * 1024, 'a');
    while (filler > 0) {
        const std::size_t piece = std::min(filler, filler_block.size());
        auto [ec, sent] = co_await asio::async_write(c.stream, asio::buffer(filler_block.data(), piece), nothrow);
        if (ec) co_return false;
        filler -= piece;
    }
    c.out.assign(suffix);
    co_return co_await send(c);
}

asio::awaitable<void> fake_stripe::impl::hang(const std::shared_ptr<connection>& self,
                                              std::chrono::milliseconds hang_for) {
    connection& c = *self;
    if (hang_for.count() > 0) {
        // The handler holds the connection, so it may outlive this frame; close() cancels it.
        c.delay_timer.expires_after(hang_for);
        c.delay_timer.async_wait([this, self](boost::system::error_code ec) {
            if (!ec && !self->closed) {
                hangs_expired.fetch_add(1);
                self->close();
            }
        });
    }
    // Never answer, but keep a read pending so that a client giving up frees the connection.
    char sink[512];
    while (!c.closed) {
        auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), nothrow);
        if (ec) break;
    }
}

asio::awaitable<bool> fake_stripe::impl::answer(const std::shared_ptr<connection>& self) {
    connection& c = *self;
    const request& req = c.parser->get();
    ++c.served;
    reply r;
    r.keep_alive =
        req.keep_alive() && (opts.max_requests_per_connection == 0 || c.served < opts.max_requests_per_connection);
    decide(c, req, r);

    if (opts.record_requests) {
        bool silent = r.what == fault::action::close_before_response || r.what == fault::action::hang ||
                      r.what == fault::action::reset;
        record(c, req, silent ? 0 : r.status, r.replayed);
    }

    if (r.delay.count() > 0) {
        if (c.closed) co_return false;
        c.delay_timer.expires_after(r.delay);
        co_await c.delay_timer.async_wait(nothrow);
        if (c.closed) // stop() cancelled the wait
            co_return false;
    }

    switch (r.what) {
    case fault::action::close_before_response: co_return false;
    case fault::action::reset: c.reset(); co_return false;
    case fault::action::hang: co_await hang(self, r.hang_for); co_return false;
    case fault::action::close_mid_headers:
        c.out = "HTTP/1.1 200 OK\r\nContent-Type: appl";
        co_await send(c);
        co_return false;
    case fault::action::oversized_body: co_return co_await send_oversized(c, req, r) && r.keep_alive;
    case fault::action::truncated_body:
        write_head(c, req, r, c.body.size());
        c.out.append(c.body, 0, c.body.size() / 2);
        co_await send(c);
        co_return false;
    default: {
        write_head(c, req, r, c.body.size());
        c.out += c.body;
        const std::size_t answer_size = c.out.size();
        const bool stray_copy = r.what == fault::action::duplicate_response;
        c.stray.clear();
        if (stray_copy) {
            c.stray = c.out;
        } else if (r.what == fault::action::trailing_garbage) {
            // Not HTTP, with a TLS-record-like start and a NUL, where a next response would begin.
            static constexpr char junk[] = "\x16\x03\x01garbage after the response\0\xff\r\n";
            c.stray.assign(junk, sizeof junk - 1);
        }

        // Counted before the write, so that a client that has read the answer finds it counted.
        // A stray copy is never in step: the client asked for one answer.
        const bool behind = c.stray_sent;
        const long in_step = r.intact && !behind ? 1 : 0;
        const long out_of_step = r.intact ? (behind ? 1 : 0) + (stray_copy ? 1 : 0) : 0;
        if (r.intact) count_delivered(c.delivery_key, in_step, out_of_step);

        std::size_t answer_sent = 0, stray_sent = 0;
        bool ok;
        if (!r.stray_separate || c.stray.empty()) {
            // In the same write: a client that reads the answer finds the stray bytes with it.
            c.out += c.stray;
            ok = co_await send(c);
            answer_sent = std::min(c.sent, answer_size);
            stray_sent = c.sent - answer_sent;
        } else {
            ok = co_await send(c);
            answer_sent = c.sent;
            if (ok) {
                c.stray_sent = true;
                c.out.swap(c.stray);
                ok = co_await send(c);
                stray_sent = c.sent;
            }
        }
        if (r.intact) {
            const bool answer_whole = answer_sent == answer_size;
            const bool copy_whole = stray_copy && stray_sent == answer_size;
            const long lost_in_step = in_step && !answer_whole ? 1 : 0;
            const long lost_out_of_step = (behind && !answer_whole ? 1 : 0) + (stray_copy && !copy_whole ? 1 : 0);
            if (lost_in_step || lost_out_of_step) count_delivered(c.delivery_key, -lost_in_step, -lost_out_of_step);
        }
        co_return ok&& r.keep_alive;
    }
    }
}

void fake_stripe::impl::decide(connection& c, const request& req, reply& r) {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));

    if (path.starts_with("/express/") && req.method() == http::verb::get) return express(c, path, r);
    if (path != "/v1" && !path.starts_with("/v1/")) return not_found(c, req, path, r);

    // /v1/accounts/{account}/login_links
    constexpr std::string_view prefix = "/v1/accounts/";
    constexpr std::string_view suffix = "/login_links";
    std::string_view segment;
    bool login_route =
        path.size() >= prefix.size() + suffix.size() && path.starts_with(prefix) && path.ends_with(suffix);
    if (login_route) {
        segment = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
        login_route = segment.find('/') == std::string_view::npos;
    }
    r.login_call = login_route && req.method() == http::verb::post;
    if (r.login_call) login_calls.fetch_add(1, std::memory_order_relaxed);

    if (!authorized(c, req, r)) return;
    if (!r.login_call) return not_found(c, req, path, r);

    r.status = 400;
    std::string account;
    if (!percent_decode(segment, account, false) || !is_account_id(account)) {
        r.status = 404;
        c.body =
            error_json("invalid_request_error", "resource_missing", "No such account: '" + account + "'", "account");
        return;
    }

    std::string_view content_type = req[http::field::content_type];
    content_type = trim(content_type.substr(0, content_type.find(';')));
    if (!beast::iequals(content_type, "application/x-www-form-urlencoded")) {
        c.body = error_json("invalid_request_error", {},
                            "Invalid request (check that your POST content type is "
                            "application/x-www-form-urlencoded). If you have any questions, we "
                            "can help at https://support.stripe.com/.");
        return;
    }

    std::string_view form = req.body();
    while (!form.empty()) {
        std::size_t amp = form.find('&');
        std::string_view pair = form.substr(0, amp);
        form = amp == std::string_view::npos ? std::string_view{} : form.substr(amp + 1);
        if (pair.empty()) continue;
        std::size_t eq = pair.find('=');
        std::string_view raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (!percent_decode(raw_value, c.scratch, true) || !percent_decode(pair.substr(0, eq), c.scratch, true)) {
            c.body = error_json("invalid_request_error", {},
                                "Invalid request: the body is not valid "
                                "application/x-www-form-urlencoded.");
            return;
        }
        if (!is_expand_parameter(c.scratch)) {
            c.body = error_json("invalid_request_error", "parameter_unknown",
                                "Received unknown parameter: " + c.scratch, c.scratch);
            return;
        }
    }

    const std::string_view key = req["Idempotency-Key"];
    std::string fingerprint;
    bool replay = false; // c.body holds the stored 200 for this key
    if (!key.empty()) {
        if (key.size() > 255) {
            c.body = error_json("invalid_request_error", {},
                                "Keys for idempotent requests can only be up to 255 characters "
                                "long.");
            return;
        }
        fingerprint.reserve(req.method_string().size() + target.size() + req.body().size() + 2);
        fingerprint.append(req.method_string()).append(" ").append(target).append("\n");
        fingerprint.append(req.body());
        std::lock_guard lock(mutex);
        if (auto it = idempotency.find(key); it != idempotency.end()) {
            if (it->second.fingerprint != fingerprint) {
                c.body = error_json("idempotency_error", {},
                                    "Keys for idempotent requests can only be used with the same parameters "
                                    "they were first used with. Try using a key other than '" +
                                        std::string(key) + "' if you meant to execute a different request.");
                return;
            }
            replay = true;
            c.body = it->second.body;
        }
    }

    // Scripted faults wait for a call that is not a replay; random ones hit any call.
    std::optional<fault> f;
    if (!replay) {
        std::lock_guard lock(mutex);
        if (!faults.empty()) {
            f.emplace(std::move(faults.front()));
            faults.pop_front();
            scripted_count.fetch_add(1, std::memory_order_relaxed);
        }
    }
    if (!f) f = draw_random_fault();

    // The stored answer for a replay; else a new link, remembered for its key.
    auto login_link_answer = [&] {
        r.status = 200;
        if (replay) {
            r.replayed = true;
        } else {
            login_link_body(c, account);
            if (!key.empty()) remember(key, std::move(fingerprint), c.body);
        }
        if (!key.empty()) {
            r.intact = true;
            c.delivery_key.assign(key);
        }
    };

    r.status = 200;
    if (!f) return login_link_answer();
    r.delay = f->delay;
    r.hang_for = f->hang_for;
    r.stray_separate = f->stray_in_separate_write;
    r.extra_headers = std::move(f->headers);
    for (const auto& [name, value] : r.extra_headers)
        if (beast::iequals(name, "Connection") && value.find("close") != std::string::npos) r.keep_alive = false;
    switch (f->what) {
    case fault::action::respond:
        if (f->status != 200 || !f->body.empty()) {
            r.status = f->status;
            c.body = f->body.empty() ? generic_error(f->status) : std::move(f->body);
            if (r.status == 200 && !key.empty()) {
                remember(key, std::move(fingerprint), c.body);
                r.intact = true;
                c.delivery_key.assign(key);
            }
            return;
        }
        break; // a normal login link, maybe late or with extra headers
    case fault::action::duplicate_response:
    case fault::action::trailing_garbage: r.what = f->what; return login_link_answer();
    case fault::action::garbage_body: c.body = "<html>not json</html>"; return;
    case fault::action::oversized_body:
        r.what = f->what;
        r.oversized_bytes = f->oversized_bytes;
        return;
    case fault::action::truncated_body:
        r.what = f->what;
        if (!replay) login_link_body(c, account); // never stored: the client cannot have had it
        return;
    case fault::action::close_before_response:
    case fault::action::close_mid_headers:
    case fault::action::hang:
    case fault::action::reset: r.what = f->what; return;
    }
    login_link_answer();
}

std::optional<fault> fake_stripe::impl::draw_random_fault() {
    const auto& rf = opts.random_faults;
    if (!(rf.rate > 0)) return std::nullopt;
    // Plain arithmetic on the generator's output: the same draws from a seed everywhere.
    auto uniform = [this](std::uint64_t n) { return fault_random() % n; };
    auto duration = [&](std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
        if (hi <= lo) return lo;
        const auto span = static_cast<std::uint64_t>((hi - lo).count());
        return lo + std::chrono::milliseconds(uniform(span + 1));
    };
    const double draw = static_cast<double>(fault_random() >> 11) * 0x1.0p-53;
    if (draw >= rf.rate) return std::nullopt;
    const auto kind = static_cast<random_fault_kind>(uniform(random_fault_kinds));
    random_counts[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);

    auto error = [&](unsigned status, const char* type, const char* code) {
        fault e = fault::stripe_error(status, type, code);
        if (auto header = uniform(3); header > 0)
            e.headers.emplace_back("Stripe-Should-Retry", header == 1 ? "true" : "false");
        return e;
    };
    using k = random_fault_kind;
    switch (kind) {
    case k::status_500: return error(500, "api_error", "");
    case k::status_503: return error(503, "api_error", "");
    case k::status_409_lock_timeout: return error(409, "invalid_request_error", "lock_timeout");
    case k::status_429_rate_limit: return error(429, "invalid_request_error", "rate_limit");
    case k::status_429_lock_timeout: return error(429, "invalid_request_error", "lock_timeout");
    case k::status_400: return error(400, "invalid_request_error", "parameter_invalid_empty");
    case k::status_402: return error(402, "card_error", "card_declined");
    case k::close_before_response: return fault::with(fault::action::close_before_response);
    case k::close_mid_headers: return fault::with(fault::action::close_mid_headers);
    case k::truncated_body: return fault::with(fault::action::truncated_body);
    case k::garbage_body: return fault::with(fault::action::garbage_body);
    case k::oversized_body: return fault::with(fault::action::oversized_body);
    case k::hang: {
        fault h = fault::with(fault::action::hang);
        h.hang_for = duration(rf.hang_for_min, rf.hang_for_max);
        return h;
    }
    case k::delay: return fault::delayed(duration(rf.delay_min, rf.delay_max));
    case k::reset: return fault::with(fault::action::reset);
    case k::duplicate_response:
    case k::trailing_garbage: {
        fault stray = fault::with(kind == k::duplicate_response ? fault::action::duplicate_response
                                                                : fault::action::trailing_garbage);
        stray.stray_in_separate_write = uniform(2) == 1;
        return stray;
    }
    }
    return std::nullopt;
}

void fake_stripe::impl::count_delivered(std::string_view key, long in_step, long behind_stray) {
    std::lock_guard lock(mutex);
    intact_delivered.fetch_add(static_cast<std::uint64_t>(in_step + behind_stray),
                               std::memory_order_relaxed); // wraps correctly for a negative sum
    auto it = idempotency.find(key);
    if (it == idempotency.end()) return; // forgotten meanwhile
    key_deliveries& d = it->second.delivered;
    const bool had = d.total() > 0;
    d.in_step = static_cast<std::size_t>(static_cast<long>(d.in_step) + in_step);
    d.behind_stray = static_cast<std::size_t>(static_cast<long>(d.behind_stray) + behind_stray);
    const bool has = d.total() > 0;
    if (!had && has) ++keys_delivered;
    else if (had && !has) --keys_delivered;
}

void fake_stripe::impl::settle_changed() {
    if (settle_watchers.load() == 0) return;
    std::lock_guard lock(settle_mutex);
    settle_cv.notify_all();
}

bool fake_stripe::impl::authorized(connection& c, const request& req, reply& r) {
    const std::string_view auth = trim(req[http::field::authorization]);
    std::string_view presented;
    std::optional<std::string> basic;
    if (auth.size() > 7 && beast::iequals(auth.substr(0, 7), "Bearer ")) {
        presented = trim(auth.substr(7));
    } else if (auth.size() > 6 && beast::iequals(auth.substr(0, 6), "Basic ")) {
        basic = base64_decode(trim(auth.substr(6)));
        if (basic) presented = std::string_view(*basic).substr(0, basic->find(':'));
    }
    if (!presented.empty() && presented == opts.api_key) return true;

    r.status = 401;
    r.extra_headers.emplace_back("WWW-Authenticate", "Basic realm=\"Stripe\"");
    if (auth.empty())
        c.body = error_json("invalid_request_error", {},
                            "You did not provide an API key. You need to provide your API key in "
                            "the Authorization header, using Bearer auth (e.g. 'Authorization: "
                            "Bearer YOUR_SECRET_KEY').");
    else c.body = error_json("invalid_request_error", {}, "Invalid API Key provided: " + masked_key(presented));
    return false;
}

void fake_stripe::impl::not_found(connection& c, const request& req, std::string_view path, reply& r) {
    r.status = 404;
    std::string message = "Unrecognized request URL (";
    message.append(req.method_string()).append(": ").append(path).append(").");
    c.body = error_json("invalid_request_error", {}, message);
}

void fake_stripe::impl::express(connection& c, std::string_view path, reply& r) {
    r.content_type = "text/html; charset=utf-8";
    std::string_view rest = path.substr(std::string_view("/express/").size());
    std::size_t slash = rest.find('/');
    bool first_visit = false;
    if (slash != std::string_view::npos) {
        std::string_view token = rest.substr(slash + 1);
        if (percent_decode(rest.substr(0, slash), c.scratch, false) && is_account_id(c.scratch) &&
            token_valid(c.scratch, token)) {
            std::lock_guard lock(mutex);
            first_visit = used_tokens.emplace(token).second;
        }
    }
    if (!first_visit) {
        r.status = 410;
        c.body = expired_page();
        return;
    }
    r.status = 200;
    c.body = express_page_head();
    c.body.append("Express Dashboard for ").append(c.scratch).append("</h1></body></html>");
}

// Tokens carry their own proof: 12 random characters, then 12 encoding a keyed hash of the
// account and those characters. Issuing a link stores nothing (flat memory in benchmarks); only
// visited tokens are remembered, to make them single-use.
std::uint64_t fake_stripe::impl::token_mac(std::string_view account, std::string_view nonce) const {
    std::uint64_t h = token_key[0];
    auto absorb = [&h](std::string_view s) {
        for (unsigned char ch : s) {
            h ^= ch;
            h *= 0x100000001b3ULL;
        }
        h ^= 0xff;
        h *= 0x100000001b3ULL;
    };
    absorb(account);
    absorb(nonce);
    h ^= token_key[1];
    // splitmix64 finaliser
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

std::string fake_stripe::impl::make_token(std::string_view account) {
    std::string token(24, '0');
    random.fill(token.data(), 12);
    std::uint64_t mac = token_mac(account, std::string_view(token).substr(0, 12));
    for (std::size_t i = 12; i < 24; ++i) {
        token[i] = alphanumerics[mac % 62];
        mac /= 62;
    }
    return token;
}

bool fake_stripe::impl::token_valid(std::string_view account, std::string_view token) const {
    if (token.size() != 24 || !all_alnum(token)) return false;
    std::uint64_t mac = token_mac(account, token.substr(0, 12));
    for (std::size_t i = 12; i < 24; ++i) {
        if (token[i] != alphanumerics[mac % 62]) return false;
        mac /= 62;
    }
    return true;
}

void fake_stripe::impl::login_link_body(connection& c, std::string_view account) {
    const std::string token = make_token(account);
    c.body.assign(R"({"object":"login_link","created":)");
    append_number(c.body, static_cast<std::uint64_t>(std::time(nullptr)));
    c.body.append(R"(,"url":")")
        .append(base_url)
        .append("/express/")
        .append(account)
        .append("/")
        .append(token)
        .append("\"}");
}

void fake_stripe::impl::remember(std::string_view key, std::string fingerprint, const std::string& body) {
    std::lock_guard lock(mutex);
    auto [it, inserted] =
        idempotency.try_emplace(std::string(key), stored_answer{std::move(fingerprint), 200, body, {}, {}});
    if (!inserted) return;
    it->second.age = idempotency_order.insert(idempotency_order.end(), &it->first);
    if (idempotency_order.size() > std::max<std::size_t>(opts.idempotency_capacity, 1)) {
        auto oldest = idempotency.find(*idempotency_order.front());
        if (oldest->second.delivered.total() > 0) --keys_delivered;
        idempotency_order.pop_front();
        idempotency.erase(oldest);
    }
}

void fake_stripe::impl::write_head(connection& c, const request& req, const reply& r, std::size_t length) {
    bool own_content_type = false;
    bool own_connection = false;
    for (const auto& [name, value] : r.extra_headers) {
        own_content_type = own_content_type || beast::iequals(name, "Content-Type");
        own_connection = own_connection || beast::iequals(name, "Connection");
    }

    std::string& o = c.out;
    o.assign("HTTP/1.1 ");
    append_number(o, r.status);
    o.push_back(' ');
    std::string_view reason = http::obsolete_reason(static_cast<http::status>(r.status));
    o.append(reason.empty() || reason.starts_with('<') ? std::string_view("Status") : reason);
    o.append("\r\nServer: fake_stripe\r\n");
    if (!own_content_type) o.append("Content-Type: ").append(r.content_type).append("\r\n");
    o.append("Content-Length: ");
    append_number(o, length);
    o.append("\r\nRequest-Id: req_");
    char id[14];
    random.fill(id, sizeof id);
    o.append(id, sizeof id).append("\r\n");
    if (auto v = req["Stripe-Version"]; !v.empty() && safe_header_value(v))
        o.append("Stripe-Version: ").append(v).append("\r\n");
    if (r.login_call)
        if (auto v = req["Idempotency-Key"]; !v.empty() && v.size() <= 255 && safe_header_value(v))
            o.append("Idempotency-Key: ").append(v).append("\r\n");
    if (r.replayed) o.append("Idempotent-Replayed: true\r\n");
    for (const auto& [name, value] : r.extra_headers) {
        if (beast::iequals(name, "Content-Length")) continue; // the length is always the real one
        o.append(name).append(": ").append(value).append("\r\n");
    }
    if (!own_connection) {
        if (!r.keep_alive) o.append("Connection: close\r\n");
        else if (req.version() == 10) o.append("Connection: keep-alive\r\n");
    }
    o.append("\r\n");
}

void fake_stripe::impl::record(const connection& c, const request& req, unsigned status, bool replayed) {
    received_request rr;
    rr.method = std::string(req.method_string());
    rr.target = std::string(req.target());
    rr.body = req.body();
    for (const auto& field : req) rr.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    rr.connection_id = c.id;
    rr.status = status;
    rr.replayed = replayed;
    std::lock_guard lock(mutex);
    recorded.push_back(std::move(rr));
}

// -------------------------------------------------------------------------------------------------
// Public API

fake_stripe::fake_stripe() : fake_stripe(options{}) {}

fake_stripe::fake_stripe(options opts) : impl_(std::make_unique<impl>(std::move(opts))) { impl_->start(); }

fake_stripe::~fake_stripe() {
    stop();
    if (!impl_->ca_file.empty()) ::unlink(impl_->ca_file.c_str());
}

void fake_stripe::stop() {
    std::lock_guard lock(impl_->lifecycle);
    if (impl_->stopped) return;
    impl_->stopped = true;
    asio::post(impl_->ioc, [s = impl_.get()] { s->shutdown(); });
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::string fake_stripe::base_url() const { return impl_->base_url; }
unsigned short fake_stripe::port() const { return impl_->port; }
const std::string& fake_stripe::api_key() const { return impl_->opts.api_key; }
const std::string& fake_stripe::ca_pem() const { return impl_->ca_pem; }
const std::string& fake_stripe::ca_file() const { return impl_->ca_file; }

void fake_stripe::script(std::vector<fault> faults) {
    std::lock_guard lock(impl_->mutex);
    for (auto& f : faults) impl_->faults.push_back(std::move(f));
}

void fake_stripe::push(fault f) {
    std::lock_guard lock(impl_->mutex);
    impl_->faults.push_back(std::move(f));
}

std::vector<received_request> fake_stripe::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->recorded;
}

std::size_t fake_stripe::request_count() const { return impl_->login_calls.load(); }
std::uint64_t fake_stripe::connections_accepted() const { return impl_->accepted.load(); }
std::size_t fake_stripe::connections_open() const { return impl_->open.load(); }
std::size_t fake_stripe::max_connections_open() const { return impl_->peak.load(); }

void fake_stripe::close_idle_connections() {
    std::lock_guard lock(impl_->lifecycle);
    if (impl_->stopped) return;
    // Synchronous, so that the caller's next request finds the connections already closed.
    std::promise<void> done;
    auto closed = done.get_future();
    asio::post(impl_->ioc, [&] {
        impl_->close_idle();
        done.set_value();
    });
    closed.wait();
    // A connection that was still finishing its answer closes once idle: wait for that too, so
    // a client that has read the answer never finds the connection open (bounded, in case a
    // client keeps it busy).
    impl& s = *impl_;
    s.settle_watchers.fetch_add(1);
    {
        std::unique_lock wait_lock(s.settle_mutex);
        s.settle_cv.wait_for(wait_lock, std::chrono::seconds(10), [&] { return s.closing_at_idle.load() == 0; });
    }
    s.settle_watchers.fetch_sub(1);
}

std::optional<std::string> fake_stripe::link_for_key(std::string_view key) const {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->idempotency.find(key);
    if (it == impl_->idempotency.end()) return std::nullopt;
    // Our own bodies: {"object":"login_link","created":N,"url":"..."}, no escapes in the URL.
    constexpr std::string_view url_field = R"("url":")";
    std::string_view body = it->second.body;
    std::size_t start = body.find(url_field);
    if (start == std::string_view::npos) return std::nullopt;
    start += url_field.size();
    std::size_t end = body.find('"', start);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(body.substr(start, end - start));
}

key_deliveries fake_stripe::deliveries_for_key(std::string_view key) const {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->idempotency.find(key);
    return it == impl_->idempotency.end() ? key_deliveries{} : it->second.delivered;
}

std::size_t fake_stripe::delivered_for_key(std::string_view key) const { return deliveries_for_key(key).total(); }

std::size_t fake_stripe::keys_with_delivered_link() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->keys_delivered;
}

std::uint64_t fake_stripe::intact_answers_delivered() const { return impl_->intact_delivered.load(); }

key_deliveries fake_stripe::forget_key(std::string_view key) {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->idempotency.find(key);
    if (it == impl_->idempotency.end()) return {};
    const key_deliveries delivered = it->second.delivered;
    if (delivered.total() > 0) --impl_->keys_delivered;
    impl_->idempotency_order.erase(it->second.age);
    impl_->idempotency.erase(it);
    return delivered;
}

std::size_t fake_stripe::idempotency_keys_remembered() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->idempotency.size();
}

const char* fake_stripe::name(random_fault_kind k) noexcept {
    using rk = random_fault_kind;
    switch (k) {
    case rk::status_500: return "500";
    case rk::status_503: return "503";
    case rk::status_409_lock_timeout: return "409_lock_timeout";
    case rk::status_429_rate_limit: return "429_rate_limit";
    case rk::status_429_lock_timeout: return "429_lock_timeout";
    case rk::status_400: return "400";
    case rk::status_402: return "402";
    case rk::close_before_response: return "close_before_response";
    case rk::close_mid_headers: return "close_mid_headers";
    case rk::truncated_body: return "truncated_body";
    case rk::garbage_body: return "garbage_body";
    case rk::oversized_body: return "oversized_body";
    case rk::hang: return "hang";
    case rk::delay: return "delay";
    case rk::reset: return "reset";
    case rk::duplicate_response: return "duplicate_response";
    case rk::trailing_garbage: return "trailing_garbage";
    }
    return "unknown";
}

std::uint64_t fake_stripe::random_faults_injected(random_fault_kind k) const {
    return impl_->random_counts[static_cast<std::size_t>(k)].load();
}

std::uint64_t fake_stripe::random_faults_injected() const {
    std::uint64_t total = 0;
    for (const auto& n : impl_->random_counts) total += n.load();
    return total;
}

std::uint64_t fake_stripe::scripted_faults_injected() const { return impl_->scripted_count.load(); }
std::uint64_t fake_stripe::hangs_outlived() const { return impl_->hangs_expired.load(); }

bool fake_stripe::wait_until_settled(std::size_t n, std::chrono::milliseconds timeout) const {
    impl& s = *impl_;
    auto settled = [&] { return s.open.load() == n && s.waiting_now.load() == n; };
    s.settle_watchers.fetch_add(1);
    bool ok;
    {
        std::unique_lock lock(s.settle_mutex);
        ok = s.settle_cv.wait_for(lock, timeout, settled);
    }
    s.settle_watchers.fetch_sub(1);
    return ok;
}

void fake_stripe::reset_counters() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->recorded.clear();
    }
    impl_->login_calls.store(0);
    impl_->peak.store(impl_->open.load());
}

} // namespace stripe_asio::testing
