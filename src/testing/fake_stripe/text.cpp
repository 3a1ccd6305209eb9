// Text helpers of the fake Stripe server (see text.hpp).
#include "text.hpp"

#include <charconv>

namespace stripe_asio::testing::detail {

namespace {

bool is_alnum(char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }

int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

} // namespace

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool all_alnum(std::string_view s) {
    for (char ch : s)
        if (!is_alnum(ch)) return false;
    return true;
}

bool is_account_id(std::string_view s) { return s.size() > 5 && s.starts_with("acct_") && all_alnum(s.substr(5)); }

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

void append_number(std::string& out, std::uint64_t n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.append(digits, end);
}

bool safe_header_value(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; }

} // namespace stripe_asio::testing::detail
