// What the fuzz targets share: the property check and a reader that turns the fuzzer's bytes
// into the choices a target makes (sizes, flags, strings).
#ifndef STRIPE_ASIO_FUZZ_SUPPORT_HPP
#define STRIPE_ASIO_FUZZ_SUPPORT_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

// A broken property must stop the fuzzer with a crash it keeps the input of; the message says
// which one (clang merges trap instructions, so the stack's line numbers can't be trusted). The
// regression test defines this before including a target, to report the failure through
// doctest instead; a target therefore keeps going safely after a failed check.
#ifndef STRIPE_ASIO_FUZZ_CHECK
#define STRIPE_ASIO_FUZZ_CHECK(condition)                                                                              \
    do {                                                                                                               \
        if (!(condition)) ::stripe_asio::fuzz::property_broken(#condition, __FILE__, __LINE__);                        \
    } while (0)
#endif

namespace stripe_asio::fuzz {

[[noreturn]] inline void property_broken(const char* condition, const char* file, int line) noexcept {
    std::fprintf(stderr, "fuzz property broken at %s:%d: %s\n", file, line, condition);
    __builtin_trap();
}

/// Takes values off the front of the input. Past the end it yields zeros and empty strings, so
/// every input, however short, is a valid sequence of choices.
class input_reader {
public:
    input_reader(const std::uint8_t* data, std::size_t size) noexcept
        : data_(reinterpret_cast<const char*>(data)), size_(size) {}

    bool empty() const noexcept { return size_ == 0; }
    std::size_t remaining() const noexcept { return size_; }

    std::uint8_t byte() noexcept {
        if (size_ == 0) return 0;
        auto b = static_cast<std::uint8_t>(*data_);
        ++data_;
        --size_;
        return b;
    }

    std::uint16_t u16() noexcept { return std::uint16_t(byte() | (unsigned(byte()) << 8)); }

    bool flag() noexcept { return (byte() & 1) != 0; }

    /// Up to `n` bytes (fewer at the end).
    std::string_view take(std::size_t n) noexcept {
        if (n > size_) n = size_;
        std::string_view s(data_, n);
        data_ += n;
        size_ -= n;
        return s;
    }

    /// A string of one length byte and that many bytes, so one input can carry several.
    std::string_view short_string() noexcept { return take(byte()); }

    /// Everything left.
    std::string_view rest() noexcept { return take(size_); }

private:
    const char* data_;
    std::size_t size_;
};

constexpr bool is_hex_upper(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

constexpr int hex_value(char c) noexcept { return c <= '9' ? c - '0' : c - 'A' + 10; }

} // namespace stripe_asio::fuzz

#endif
