// libFuzzer entry point for targets/response_reader.hpp (built by fuzz/CMakeLists.txt, run by scripts/fuzz.sh).
#include "targets/response_reader.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return stripe_asio::fuzz::fuzz_response_reader(data, size);
}
