// application/x-www-form-urlencoded bodies: percent-encoding, expand[] parameters, order.
#include <doctest/doctest.h>

#include <stripe_asio/detail/form_encoding.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace std::string_view_literals;
using stripe_asio::detail::append_form_param;
using stripe_asio::detail::encode_form;
using stripe_asio::detail::form_params;
using stripe_asio::detail::percent_encode;

namespace {

std::string encoded(std::string_view in, bool keep_brackets = false) {
    std::string out;
    percent_encode(out, in, keep_brackets);
    return out;
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("percent_encode: unreserved characters pass through") {
    CHECK(encoded("abcXYZ019-._~") == "abcXYZ019-._~");
    CHECK(encoded("") == "");
}

TEST_CASE("percent_encode: reserved characters become upper-case %XX") {
    CHECK(encoded("&") == "%26");
    CHECK(encoded("=") == "%3D");
    CHECK(encoded("+") == "%2B");
    CHECK(encoded("/") == "%2F");
    CHECK(encoded("?") == "%3F");
    CHECK(encoded("#") == "%23");
    CHECK(encoded("%") == "%25");
    CHECK(encoded(":@!$'()*,;") == "%3A%40%21%24%27%28%29%2A%2C%3B");
    CHECK(encoded("a&b=c") == "a%26b%3Dc");
}

TEST_CASE("percent_encode: space is %20, never +") {
    CHECK(encoded(" ") == "%20");
    CHECK(encoded("a b  c") == "a%20b%20%20c");
}

TEST_CASE("percent_encode: control bytes and UTF-8 are encoded byte by byte") {
    CHECK(encoded("\xC3\xA9") == "%C3%A9");
    CHECK(encoded("caf\xC3\xA9") == "caf%C3%A9");
    CHECK(encoded("\xE2\x82\xAC") == "%E2%82%AC");
    CHECK(encoded("\r\n\t") == "%0D%0A%09");
    CHECK(encoded("\0"sv) == "%00");
    CHECK(encoded("\x7f\xff") == "%7F%FF");
}

TEST_CASE("percent_encode: brackets are kept only when asked (keys)") {
    CHECK(encoded("expand[0]") == "expand%5B0%5D");
    CHECK(encoded("expand[0]", true) == "expand[0]");
    CHECK(encoded("a b[x]", true) == "a%20b[x]");
}

TEST_CASE("percent_encode appends to what is already there") {
    std::string out = "x=";
    percent_encode(out, "a b");
    CHECK(out == "x=a%20b");
}

TEST_CASE("append_form_param: brackets survive in keys, not in values") {
    std::string body;
    append_form_param(body, "metadata[order id]", "[1]&2");
    CHECK(body == "metadata[order%20id]=%5B1%5D%262");
}

TEST_CASE("append_form_param: joins parameters with &") {
    std::string body;
    append_form_param(body, "a", "1");
    append_form_param(body, "b", "");
    append_form_param(body, "c", "3");
    CHECK(body == "a=1&b=&c=3");
}

TEST_CASE("encode_form: keeps the given order") {
    form_params params{{"z", "1"}, {"a", "2"}, {"expand[0]", "m.n"}, {"a", "3"}};
    CHECK(encode_form(params) == "z=1&a=2&expand[0]=m.n&a=3");
}

TEST_CASE("encode_form: empty parameter list gives an empty body") { CHECK(encode_form({}) == ""); }

TEST_CASE("encode_form: encodes keys and values") {
    form_params params{{"description", "Caf\xC3\xA9 & co"}, {"metadata[k k]", "v=v"}};
    CHECK(encode_form(params) == "description=Caf%C3%A9%20%26%20co&metadata[k%20k]=v%3Dv");
}

} // TEST_SUITE("unit")
