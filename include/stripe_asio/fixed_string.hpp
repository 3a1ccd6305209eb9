// A short string stored inline and trivially destructible: per-call metadata that must not cost
// a heap allocation, and the text fields of request_options (see there why they are trivial).
#ifndef STRIPE_ASIO_FIXED_STRING_HPP
#define STRIPE_ASIO_FIXED_STRING_HPP

#include <cstddef>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

namespace stripe_asio {

/// Holds up to `Capacity` characters inline. Longer input keeps its first `Capacity`
/// characters and is remembered as cut (`truncated()`), so a caller's value that does not fit
/// can be refused instead of sent shortened.
template <std::size_t Capacity>
class fixed_string {
public:
    constexpr fixed_string() noexcept = default;
    fixed_string(std::string_view s) noexcept { assign(s); }
    // Literals and std::string convert directly, so `opts.idempotency_key = "order-42"` and
    // designated initializers work.
    fixed_string(const char* s) noexcept { assign(s ? std::string_view(s) : std::string_view()); }
    fixed_string(const std::string& s) noexcept { assign(std::string_view(s)); }

    void assign(std::string_view s) noexcept {
        truncated_ = s.size() > Capacity;
        size_ = truncated_ ? Capacity : s.size();
        if (size_ != 0) std::memmove(data_, s.data(), size_); // `s` may be our own text
    }
    std::string_view view() const noexcept { return {data_, size_}; }
    operator std::string_view() const noexcept { return view(); }
    std::string str() const { return std::string(view()); }
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    /// The last value assigned was longer than the capacity and was cut.
    bool truncated() const noexcept { return truncated_; }
    static constexpr std::size_t capacity() noexcept { return Capacity; }

    friend bool operator==(const fixed_string& a, std::string_view b) noexcept { return a.view() == b; }
    friend std::ostream& operator<<(std::ostream& os, const fixed_string& s) { return os << s.view(); }

private:
    std::size_t size_ = 0;
    bool truncated_ = false;
    char data_[Capacity]{};
};

} // namespace stripe_asio

#endif
