// libFuzzer entry point for targets/json_results.hpp (built by fuzz/CMakeLists.txt, run by scripts/fuzz.sh).
#include "targets/json_results.hpp"

// Boost.JSON compiled into this binary, so its parser is instrumented and guides the fuzzer.
#include <boost/json/src.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return stripe_asio::fuzz::fuzz_json_results(data, size);
}
