// Server text on its way to diagnostics: the key redacted, control characters escaped, length cut.
#include <doctest/doctest.h>

#include <stripe_asio/detail/server_text.hpp>
#include <stripe_asio/diagnostics.hpp>

#include <string>

using namespace stripe_asio::detail;

namespace {
constexpr std::string_view key = "sk_test_HOSTILE_SECRET_4242";

std::string printable(std::string_view text, std::size_t cap = 1000) {
    std::string out;
    append_printable(out, text, cap);
    return out;
}
} // namespace

TEST_SUITE("unit") {

TEST_CASE("redact_key: the whole key and its secret part alone") {
    std::string text = "got sk_test_HOSTILE_SECRET_4242 and HOSTILE_SECRET_4242 and sk_test_";
    redact_key(text, key);
    CHECK(text == "got [redacted] and [redacted] and sk_test_");
    CHECK_FALSE(holds_key(text, key));
    CHECK(holds_key("xHOSTILE_SECRET_4242x", key));
    CHECK(secret_part("sk_live_short") == "");
    CHECK(secret_part("nounderscore") == "");
}

TEST_CASE("append_printable: one line, no terminal control, quotes kept apart") {
    CHECK(printable("plain text, ok") == "plain text, ok");
    CHECK(printable("a\nb\r\n") == "a\\x0ab\\x0d\\x0a");
    CHECK(printable("\x1b[31mred\x07") == "\\x1b[31mred\\x07");
    CHECK(printable("del\x7f") == "del\\x7f");
    CHECK(printable("say \"hi\" \\ bye") == "say \\\"hi\\\" \\\\ bye");
    CHECK(printable("csi \xc2\x9b"
                    "2J") == "csi \\xc2\\x9b2J"); // C1 control, UTF-8
    CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9"); // other UTF-8 stays
    CHECK(printable(std::string(10, 'x'), 4) == "xxxx...(6 more bytes)");
}

TEST_CASE("capture_request_id: clean, bounded, never the key") {
    stripe_asio::fixed_string<64> id;
    capture_request_id(id, "req_abc123", key);
    CHECK(id == "req_abc123");
    capture_request_id(id, "req_sk_test_HOSTILE_SECRET_4242", key);
    CHECK(id == "[redacted]");
    capture_request_id(id, "req\r\nX: y\x1b", key);
    CHECK(id == "req??X:?y?");
    capture_request_id(id, std::string(100, 'r'), key);
    CHECK(id.size() == 64);
}

TEST_CASE("diagnostics::to_string: server fields are escaped and cut") {
    stripe_asio::diagnostics d;
    d.http_status = 400;
    d.type = "invalid\nrequest";
    d.message.assign(100 * 1024, 'm');
    d.message += "\x1b]0;pwned\x07";
    d.request_id = "req_1";
    std::string line = d.to_string();
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK(line.find('\x07') == std::string::npos);
    CHECK(line.size() < 2048);
    CHECK(line.find("type=invalid\\x0arequest") != std::string::npos);
    CHECK(line.find("more bytes") != std::string::npos);
}

} // TEST_SUITE("unit")
