// A short string stored inline, for per-call metadata that must not cost a heap allocation.
#ifndef STRIPE_ASIO_FIXED_STRING_HPP
#define STRIPE_ASIO_FIXED_STRING_HPP

#include <cstddef>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

namespace stripe_asio {

/// Holds up to `Capacity` characters inline; longer input is cut (callers bound their input).
template <std::size_t Capacity>
class fixed_string {
public:
    constexpr fixed_string() noexcept = default;
    fixed_string(std::string_view s) noexcept { assign(s); }

    void assign(std::string_view s) noexcept {
        size_ = s.size() < Capacity ? s.size() : Capacity;
        if (size_ != 0) std::memcpy(data_, s.data(), size_);
    }
    std::string_view view() const noexcept { return {data_, size_}; }
    operator std::string_view() const noexcept { return view(); }
    std::string str() const { return std::string(view()); }
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    static constexpr std::size_t capacity() noexcept { return Capacity; }

    friend bool operator==(const fixed_string& a, std::string_view b) noexcept { return a.view() == b; }
    friend std::ostream& operator<<(std::ostream& os, const fixed_string& s) { return os << s.view(); }

private:
    std::size_t size_ = 0;
    char data_[Capacity]{};
};

} // namespace stripe_asio

#endif
