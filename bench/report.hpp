// Small pieces of the benchmark's reports: latency percentiles and a flat JSON writer whose
// numbers read like the table's (1.234, not 1.234E0).
#ifndef STRIPE_ASIO_BENCH_REPORT_HPP
#define STRIPE_ASIO_BENCH_REPORT_HPP

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

/// Nearest-rank percentile of sorted samples, in milliseconds; 0 when there are none.
inline double percentile_ms(const std::vector<std::int64_t>& sorted_ns, double q) {
    if (sorted_ns.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted_ns.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted_ns.size());
    return static_cast<double>(sorted_ns[rank - 1]) / 1e6;
}

/// A number that could not be measured: "n/a" in tables, null in JSON.
inline constexpr double not_measured = std::numeric_limits<double>::quiet_NaN();

/// `value` with `decimals` digits after the point, for tables.
inline std::string fixed(double value, int decimals) {
    if (std::isnan(value)) return "n/a";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

/// One flat JSON object, written field by field in the order given.
class json_writer {
public:
    json_writer& field(std::string_view name, std::string_view value) {
        key(name);
        quote(value);
        return *this;
    }
    json_writer& field(std::string_view name, const char* value) { return field(name, std::string_view(value)); }
    json_writer& field(std::string_view name, const std::string& value) { return field(name, std::string_view(value)); }
    json_writer& field(std::string_view name, std::uint64_t value) {
        key(name);
        out_ += std::to_string(value);
        return *this;
    }
    json_writer& field(std::string_view name, std::int64_t value) {
        key(name);
        out_ += std::to_string(value);
        return *this;
    }
    json_writer& field(std::string_view name, bool value) {
        key(name);
        out_ += value ? "true" : "false";
        return *this;
    }
    /// Rounded to `decimals` places, written in the shortest form; null when not finite
    /// (`not_measured` says "no value").
    json_writer& number(std::string_view name, double value, int decimals = 3) {
        key(name);
        if (!std::isfinite(value)) {
            out_ += "null";
            return *this;
        }
        double scale = std::pow(10.0, decimals);
        double rounded = std::round(value * scale) / scale;
        char text[64];
        auto r = std::to_chars(text, text + sizeof text, rounded, std::chars_format::fixed);
        out_.append(text, r.ptr);
        return *this;
    }
    json_writer& field(std::string_view name, const std::map<std::string, std::uint64_t>& counts) {
        key(name);
        out_ += '{';
        bool first = true;
        for (const auto& [k, v] : counts) {
            if (!first) out_ += ',';
            first = false;
            quote(k);
            out_ += ':';
            out_ += std::to_string(v);
        }
        out_ += '}';
        return *this;
    }

    std::string str() const { return out_ + "}"; }

private:
    void key(std::string_view name) {
        out_ += out_.size() > 1 ? "," : "";
        quote(name);
        out_ += ':';
    }
    void quote(std::string_view s) {
        out_ += '"';
        for (char ch : s) {
            auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                out_ += '\\';
                out_ += ch;
            } else if (c < 0x20) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\u%04x", c);
                out_ += esc;
            } else {
                out_ += ch;
            }
        }
        out_ += '"';
    }

    std::string out_ = "{";
};

} // namespace bench

#endif
