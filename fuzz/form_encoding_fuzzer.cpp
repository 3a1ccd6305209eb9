// libFuzzer entry point for targets/form_encoding.hpp (built by fuzz/CMakeLists.txt, run by scripts/fuzz.sh).
#include "targets/form_encoding.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return stripe_asio::fuzz::fuzz_form_encoding(data, size);
}
