// libFuzzer entry point for targets/resp.hpp (built by fuzz/CMakeLists.txt, run by scripts/fuzz.sh).
#include "targets/resp.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return stripe_asio::fuzz::fuzz_resp(data, size);
}
