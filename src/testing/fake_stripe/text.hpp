// Text helpers of the fake Stripe server: trimming, percent and base64 decoding, account ids,
// numbers, and random alphanumerics for Request-Ids and link tokens.
#ifndef STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_TEXT_HPP
#define STRIPE_ASIO_SRC_TESTING_FAKE_STRIPE_TEXT_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace stripe_asio::testing::detail {

inline constexpr std::string_view alphanumerics = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

bool all_alnum(std::string_view s);

/// "acct_" and at least one alphanumeric, nothing else.
bool is_account_id(std::string_view s);

/// Percent-decodes `in` into `out`; `form` also turns '+' into a space. False on a bad escape.
bool percent_decode(std::string_view in, std::string& out, bool form);

/// Standard or URL-safe alphabet, padding optional; nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view in);

void append_number(std::string& out, std::uint64_t n);

/// No CR or LF: safe to echo into a response header.
bool safe_header_value(std::string_view v);

/// Random alphanumerics; one thread at a time.
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

} // namespace stripe_asio::testing::detail

#endif
