// Fuzz target: RESP replies from a Redis server (or anything posing as one), fed to the reader
// in the splits the input chooses. Properties: no crash; never more held than the bound; an
// error is sticky (no reply after it); every reply converts, arrays element by element.
#ifndef STRIPE_ASIO_FUZZ_TARGETS_RESP_HPP
#define STRIPE_ASIO_FUZZ_TARGETS_RESP_HPP

#include "fuzz_support.hpp"

#include <stripe_asio/detail/resp.hpp>

namespace stripe_asio::fuzz {

inline std::size_t count_values(const detail::resp_value& v) {
    std::size_t n = 1;
    for (const auto& e : v.elements) n += count_values(e);
    return n;
}

inline int fuzz_resp(const std::uint8_t* data, std::size_t size) {
    input_reader in(data, size);
    constexpr std::size_t bound = 4096;
    detail::resp_reader reader(bound);
    bool spent = false;
    while (!in.empty()) {
        std::string_view chunk = in.take(1 + in.byte() % 64);
        bool fed = reader.feed(chunk.data(), chunk.size());
        if (spent) STRIPE_ASIO_FUZZ_CHECK(!fed);
        while (auto v = reader.next()) {
            STRIPE_ASIO_FUZZ_CHECK(!spent);
            STRIPE_ASIO_FUZZ_CHECK(count_values(*v) >= 1);
        }
        if (!reader.error().empty()) spent = true;
        STRIPE_ASIO_FUZZ_CHECK(reader.buffered() <= bound);
    }
    return 0;
}

} // namespace stripe_asio::fuzz

#endif
