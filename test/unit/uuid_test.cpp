// format_uuid_v4: 16 random bytes as xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx.
#include <doctest/doctest.h>

#include <stripe_asio/detail/uuid.hpp>

#include <array>
#include <cstdint>
#include <string>

using stripe_asio::detail::format_uuid_v4;
using stripe_asio::detail::uuid_text_length;

namespace {

using bytes16 = std::array<std::uint8_t, 16>;

std::string uuid_of(const bytes16& b) {
    auto text = format_uuid_v4(b);
    return std::string(text.data(), text.size());
}

bytes16 filled(std::uint8_t v) {
    bytes16 b;
    b.fill(v);
    return b;
}

void check_shape(const std::string& u) {
    INFO("uuid: ", u);
    REQUIRE(u.size() == 36);
    for (std::size_t i = 0; i < u.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            CHECK(u[i] == '-');
        } else {
            bool lower_hex = (u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f');
            CHECK(lower_hex);
        }
    }
    CHECK(u[14] == '4');
    CHECK(std::string("89ab").find(u[19]) != std::string::npos);
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("uuid: text length is 36") {
    CHECK(uuid_text_length == 36);
    CHECK(format_uuid_v4(bytes16{}).size() == 36);
}

TEST_CASE("uuid: known bytes give the exact string") {
    bytes16 b{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    // byte 6: 0x66 -> 0x46 (version 4); byte 8: 0x88 -> 0x88 (variant 10xx kept).
    CHECK(uuid_of(b) == "00112233-4455-4677-8899-aabbccddeeff");
    check_shape(uuid_of(b));
}

TEST_CASE("uuid: version and variant bits overwrite the random ones") {
    bytes16 b{0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0xf5, 0x67, 0x49, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67};
    // byte 6: 0xf5 -> 0x45; byte 8: 0x49 -> 0x89.
    CHECK(uuid_of(b) == "deadbeef-0123-4567-89ab-cdef01234567");
}

TEST_CASE("uuid: all-zero bytes") {
    CHECK(uuid_of(filled(0x00)) == "00000000-0000-4000-8000-000000000000");
    check_shape(uuid_of(filled(0x00)));
}

TEST_CASE("uuid: all-0xFF bytes") {
    CHECK(uuid_of(filled(0xff)) == "ffffffff-ffff-4fff-bfff-ffffffffffff");
    check_shape(uuid_of(filled(0xff)));
}

TEST_CASE("uuid: every value of the variant byte maps into 8, 9, a or b") {
    const char expected[4] = {'8', '9', 'a', 'b'};
    for (unsigned v = 0; v < 256; ++v) {
        bytes16 b{};
        b[8] = std::uint8_t(v);
        b[6] = std::uint8_t(v);
        std::string u = uuid_of(b);
        INFO("byte value ", v);
        CHECK(u[19] == expected[(v >> 4) & 0x3]);
        CHECK(u[14] == '4');
        CHECK(u[15] == "0123456789abcdef"[v & 0xF]);
        check_shape(u);
    }
}

} // TEST_SUITE("unit")
