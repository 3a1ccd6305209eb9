#ifndef STRIPE_ASIO_DETAIL_UUID_HPP
#define STRIPE_ASIO_DETAIL_UUID_HPP

#include <array>
#include <cstdint>

namespace stripe_asio::detail {

inline constexpr std::size_t uuid_text_length = 36;

/// Formats 16 random bytes as a version 4, variant 1 UUID: xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx.
inline std::array<char, uuid_text_length> format_uuid_v4(std::array<std::uint8_t, 16> bytes) noexcept {
    bytes[6] = std::uint8_t((bytes[6] & 0x0F) | 0x40);
    bytes[8] = std::uint8_t((bytes[8] & 0x3F) | 0x80);
    constexpr char hex[] = "0123456789abcdef";
    std::array<char, uuid_text_length> out{};
    std::size_t pos = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[pos++] = '-';
        out[pos++] = hex[bytes[i] >> 4];
        out[pos++] = hex[bytes[i] & 0xF];
    }
    return out;
}

} // namespace stripe_asio::detail

#endif
