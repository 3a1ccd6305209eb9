// fake-stripe: the test server as a standalone program, for curl, other languages' clients and
// load generators. Serves until SIGINT or SIGTERM.
#include <stripe_asio/testing/fake_stripe.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include <pthread.h>

#include <algorithm>
#include <vector>

namespace {

constexpr std::string_view usage_text =
    "usage: fake-stripe [--port N] [--address A] [--cert PEM_FILE --key PEM_FILE]\n"
    "                   [--api-key K] [--ca-out FILE] [--print-ca] [--idle-timeout-ms N]\n"
    "                   [--fault F]... [--random-faults RATE [--seed N]]\n"
    "                   [--account-rate R] [--endpoint-rate R] [--rate-burst N] [--sliding-window]\n"
    "\n"
    "A Stripe-shaped HTTPS server answering POST /v1/accounts/{account}/login_links.\n"
    "\n"
    "  --port N             port to listen on (default 0: an ephemeral port)\n"
    "  --address A          address to listen on (default 127.0.0.1)\n"
    "  --cert, --key        PEM certificate chain and private key (default: a CA and a server\n"
    "                       certificate made at start)\n"
    "  --api-key K          the accepted secret key (default sk_test_fake_stripe_key)\n"
    "  --ca-out FILE        write the generated CA certificate (PEM) to FILE\n"
    "  --print-ca           print the generated CA certificate (PEM) to stdout\n"
    "  --idle-timeout-ms N  close keep-alive connections idle for N ms (default 0: never)\n"
    "  --no-record          accepted and ignored: this program never keeps the requests it\n"
    "                       receives (the in-process fake_stripe records them for tests)\n"
    "  --fault F            script the next login-link call (repeat for more, in order):\n"
    "                       a status (500, 429, 409, ...) answered with a Stripe error,\n"
    "                       or close, close-mid-headers, truncate, garbage, oversize, hang,\n"
    "                       reset, duplicate, trailing-garbage (the extra bytes in the answer's\n"
    "                       write), duplicate-separate, trailing-garbage-separate (in a write\n"
    "                       of their own), duplicate-nokey-late (a copy without the key, 40 ms\n"
    "                       later), duplicate-nokey-next (the same, held for the connection's\n"
    "                       next request and sent before its answer), unasked-late,\n"
    "                       unasked-next (a 402 card_error nobody asked for, likewise)\n"
    "  --random-faults RATE give each login-link call without a scripted fault, with probability\n"
    "                       RATE (0 to 1), a fault drawn uniformly from: 500, 503, 409\n"
    "                       lock_timeout, 429 rate_limit, 429 lock_timeout, 400, 402 (each with\n"
    "                       no, a true or a false Stripe-Should-Retry), close, close-mid-headers,\n"
    "                       truncate, garbage, oversize, hang (2 to 5 s, then close), delay\n"
    "                       (10 to 1500 ms), reset, duplicate, trailing-garbage (either write)\n"
    "  --seed N             the random faults' seed (default 1): the same draws for the same N\n"
    "  --account-rate R     answer 429 rate_limit (Stripe-Rate-Limited-Reason: global-rate) to\n"
    "                       authenticated /v1 requests over R per second (default 0: no limit)\n"
    "  --endpoint-rate R    the same per endpoint (endpoint-rate), login links being one\n"
    "  --rate-burst N       requests each limit lets through at once after a lull (default 1)\n"
    "  --sliding-window     instead of a token bucket, each limit admits at most R requests in\n"
    "                       any window of one second (sliding; no burst): stricter than Stripe\n"
    "                       GET /_fake_stripe/rate_stats answers the requests let through in\n"
    "                       each second since start, and the 429s (in all and by second), as\n"
    "                       JSON\n"
    "  --help               this text\n"
    "\n"
    "Prints 'listening on https://HOST:PORT' once ready.\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "fake-stripe: " << message << "\n\n" << usage_text;
    std::exit(2);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

stripe_asio::testing::fault parse_fault(const std::string& text) {
    using stripe_asio::testing::fault;
    if (text == "close") return fault::with(fault::action::close_before_response);
    if (text == "close-mid-headers") return fault::with(fault::action::close_mid_headers);
    if (text == "truncate") return fault::with(fault::action::truncated_body);
    if (text == "garbage") return fault::with(fault::action::garbage_body);
    if (text == "oversize") return fault::with(fault::action::oversized_body);
    if (text == "hang") return fault::with(fault::action::hang);
    if (text == "reset") return fault::with(fault::action::reset);
    if (text == "duplicate") return fault::with(fault::action::duplicate_response);
    if (text == "trailing-garbage") return fault::with(fault::action::trailing_garbage);
    if (text == "duplicate-separate" || text == "trailing-garbage-separate") {
        fault f = fault::with(text == "duplicate-separate" ? fault::action::duplicate_response
                                                           : fault::action::trailing_garbage);
        f.stray_in_separate_write = true;
        return f;
    }
    if (text == "duplicate-nokey-late" || text == "duplicate-nokey-next" || text == "unasked-late" ||
        text == "unasked-next") {
        fault f = fault::with(text.starts_with("duplicate") ? fault::action::duplicate_response
                                                            : fault::action::unasked_answer);
        f.stray_without_key = true;
        if (text.ends_with("late")) f.stray_delay = std::chrono::milliseconds(40);
        else f.stray_before_next_answer = true;
        return f;
    }
    if (text.size() == 3 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        unsigned status = unsigned(std::stoul(text));
        if (status >= 400 && status <= 599)
            return fault::stripe_error(status, status >= 500 ? "api_error" : "invalid_request_error");
    }
    usage_error("unknown fault " + text);
}

double parse_rate(const std::string& flag, const std::string& text) {
    char* end = nullptr;
    double rate = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(rate >= 0 && rate <= 1))
        usage_error("bad value for " + flag + ": " + text + " (0 to 1)");
    return rate;
}

double parse_per_second(const std::string& flag, const std::string& text) {
    char* end = nullptr;
    double rate = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(rate == 0 || (rate >= 1.0 / 3600 && rate <= 1e6)))
        usage_error("bad value for " + flag + ": " + text + " (requests per second: 0, or 1/3600 to 1000000)");
    return rate;
}

unsigned long parse_number(const std::string& flag, const std::string& text, unsigned long max) {
    try {
        std::size_t used = 0;
        unsigned long n = std::stoul(text, &used);
        if (used == text.size() && n <= max && text.find('-') == std::string::npos) return n;
    } catch (const std::exception&) {
    }
    usage_error("bad value for " + flag + ": " + text);
}

} // namespace

int main(int argc, char** argv) {
    using stripe_asio::testing::fake_stripe;

    fake_stripe::options opts;
    opts.record_requests = false; // long runs: keep memory flat
    std::string cert_file, key_file, ca_out;
    bool print_ca = false;
    std::vector<stripe_asio::testing::fault> faults;

    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            return 0;
        } else if (arg == "--port") {
            opts.port = static_cast<unsigned short>(parse_number(arg, value(), 65535));
        } else if (arg == "--address") {
            opts.listen_address = value();
        } else if (arg == "--cert") {
            cert_file = value();
        } else if (arg == "--key") {
            key_file = value();
        } else if (arg == "--api-key") {
            opts.api_key = value();
        } else if (arg == "--ca-out") {
            ca_out = value();
        } else if (arg == "--print-ca") {
            print_ca = true;
        } else if (arg == "--idle-timeout-ms") {
            opts.idle_timeout = std::chrono::milliseconds(parse_number(arg, value(), 86'400'000));
        } else if (arg == "--no-record") {
            // Nothing to turn off: see the help text.
        } else if (arg == "--fault") {
            faults.push_back(parse_fault(value()));
        } else if (arg == "--random-faults") {
            opts.random_faults.rate = parse_rate(arg, value());
        } else if (arg == "--account-rate") {
            opts.rate_limits.account_per_second = parse_per_second(arg, value());
        } else if (arg == "--endpoint-rate") {
            opts.rate_limits.endpoint_per_second = parse_per_second(arg, value());
        } else if (arg == "--rate-burst") {
            opts.rate_limits.burst = static_cast<double>(parse_number(arg, value(), 1'000'000));
            if (opts.rate_limits.burst < 1) usage_error("--rate-burst must be at least 1");
        } else if (arg == "--sliding-window") {
            opts.rate_limits.sliding_window = true;
        } else if (arg == "--seed") {
            opts.random_faults.seed = parse_number(arg, value(), std::numeric_limits<unsigned long>::max());
        } else {
            usage_error("unknown option " + arg);
        }
    }
    if (cert_file.empty() != key_file.empty()) usage_error("--cert and --key go together");
    if (!cert_file.empty()) {
        opts.cert_pem = read_file(cert_file);
        opts.key_pem = read_file(key_file);
        if (!ca_out.empty() || print_ca) usage_error("--ca-out and --print-ca need a generated CA (no --cert/--key)");
    }

    // Block the signals before the server thread starts so that only sigwait() sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    try {
        fake_stripe server(std::move(opts));
        server.script(std::move(faults));
        if (!ca_out.empty()) {
            std::ofstream out(ca_out, std::ios::binary | std::ios::trunc);
            out << server.ca_pem();
            if (!out.flush()) {
                std::cerr << "fake-stripe: cannot write " << ca_out << "\n";
                return 1;
            }
        }
        if (print_ca) std::cout << server.ca_pem();
        std::cout << "listening on " << server.base_url() << std::endl;

        int received = 0;
        sigwait(&signals, &received);
        server.stop();
    } catch (const std::exception& e) {
        std::cerr << "fake-stripe: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
