// libFuzzer entry point for targets/base_url.hpp (built by fuzz/CMakeLists.txt, run by scripts/fuzz.sh).
#include "targets/base_url.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return stripe_asio::fuzz::fuzz_base_url(data, size);
}
