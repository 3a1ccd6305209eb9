// Replays every fuzz seed and every input that once broke a fuzz target (fuzz/corpus/<target>/,
// fuzz/regressions/<target>/) through the same target functions, so the ordinary test run keeps
// them fixed without clang or libFuzzer.
#include <doctest/doctest.h>

// Here a broken property is a doctest failure naming the input, not a trap; the targets are
// written to carry on safely after one.
#define STRIPE_ASIO_FUZZ_CHECK(condition)                                                                              \
    do {                                                                                                               \
        if (!(condition)) FAIL_CHECK("fuzz property broken: " #condition);                                             \
    } while (0)

#include "../../fuzz/targets/base_url.hpp"
#include "../../fuzz/targets/form_encoding.hpp"
#include "../../fuzz/targets/json_results.hpp"
#include "../../fuzz/targets/response_reader.hpp"
#include "../../fuzz/targets/validation.hpp"
#ifdef STRIPE_ASIO_TEST_WITH_REDIS
#include "../../fuzz/targets/resp.hpp"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using target_function = int (*)(const std::uint8_t*, std::size_t);

/// fuzz/ of the source tree: STRIPE_ASIO_FUZZ_DIR when the build defines it, else found from
/// this file's path (test/unit/ -> fuzz/).
fs::path fuzz_dir() {
#ifdef STRIPE_ASIO_FUZZ_DIR
    return fs::path(STRIPE_ASIO_FUZZ_DIR);
#else
    return fs::path(__FILE__).parent_path().parent_path().parent_path() / "fuzz";
#endif
}

std::vector<fs::path> inputs_of(const std::string& target) {
    std::vector<fs::path> files;
    for (const char* kind : {"corpus", "regressions"}) {
        fs::path dir = fuzz_dir() / kind / target;
        if (!fs::is_directory(dir)) continue;
        for (const auto& entry : fs::directory_iterator(dir))
            if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<std::uint8_t> contents(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replay(const std::string& target, target_function run) {
    const auto files = inputs_of(target);
    INFO("fuzz inputs under ", fuzz_dir().string());
    REQUIRE_FALSE(files.empty()); // the seeds are committed: none found means a wrong path
    for (const auto& file : files) {
        const std::string name = file.string();
        INFO("input: ", name);
        const auto bytes = contents(file);
        CHECK(run(bytes.data(), bytes.size()) == 0);
    }
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("fuzz regressions: json_results") { replay("json_results", stripe_asio::fuzz::fuzz_json_results); }

TEST_CASE("fuzz regressions: form_encoding") { replay("form_encoding", stripe_asio::fuzz::fuzz_form_encoding); }

TEST_CASE("fuzz regressions: validation") { replay("validation", stripe_asio::fuzz::fuzz_validation); }

TEST_CASE("fuzz regressions: base_url") { replay("base_url", stripe_asio::fuzz::fuzz_base_url); }

TEST_CASE("fuzz regressions: response_reader") { replay("response_reader", stripe_asio::fuzz::fuzz_response_reader); }

#ifdef STRIPE_ASIO_TEST_WITH_REDIS
TEST_CASE("fuzz regressions: resp") { replay("resp", stripe_asio::fuzz::fuzz_resp); }
#endif

} // TEST_SUITE("unit")
