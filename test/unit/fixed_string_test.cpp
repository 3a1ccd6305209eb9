// fixed_string<N>: inline, trivially destructible storage; longer input is cut at N and marked.
#include <doctest/doctest.h>

#include <stripe_asio/fixed_string.hpp>

#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

using stripe_asio::fixed_string;

TEST_SUITE("unit") {

TEST_CASE("fixed_string: starts empty") {
    fixed_string<8> s;
    CHECK(s.empty());
    CHECK(s.size() == 0);
    CHECK(s.view() == "");
    CHECK(s.str() == "");
    CHECK(fixed_string<8>::capacity() == 8);
}

TEST_CASE("fixed_string: holds what fits, exactly") {
    fixed_string<64> s("req_abc123");
    CHECK_FALSE(s.empty());
    CHECK(s.size() == 10);
    CHECK(s == "req_abc123");
    CHECK(s.str() == "req_abc123");
    std::string_view v = s;
    CHECK(v == "req_abc123");
}

TEST_CASE("fixed_string: input of exactly the capacity is kept whole") {
    fixed_string<4> s("abcd");
    CHECK(s.size() == 4);
    CHECK(s == "abcd");
}

TEST_CASE("fixed_string: longer input is cut at the capacity") {
    fixed_string<4> s("abcdefgh");
    CHECK(s.size() == 4);
    CHECK(s == "abcd");
    CHECK(s.truncated());
    s.assign("ab");
    CHECK_FALSE(s.truncated());
}

TEST_CASE("fixed_string: literals, std::string and a null pointer convert") {
    fixed_string<8> a = "lit";
    CHECK(a == "lit");
    fixed_string<8> b = std::string("str");
    CHECK(b == "str");
    const char* none = nullptr;
    fixed_string<8> c = none;
    CHECK(c.empty());
    CHECK_FALSE(c.truncated());
}

TEST_CASE("fixed_string: trivially copyable and destructible") {
    CHECK(std::is_trivially_destructible_v<fixed_string<8>>);
    CHECK(std::is_trivially_copyable_v<fixed_string<8>>);
}

TEST_CASE("fixed_string: assign replaces the content, shorter or longer") {
    fixed_string<16> s("a long-ish value");
    s.assign("xy");
    CHECK(s == "xy");
    CHECK(s.size() == 2);
    s.assign("");
    CHECK(s.empty());
}

TEST_CASE("fixed_string: a default string_view (null data, zero length) is a valid empty input") {
    // memcpy from a null pointer is undefined even for zero bytes; UBSan reports it.
    fixed_string<16> s("not empty");
    s.assign(std::string_view{});
    CHECK(s.empty());
    fixed_string<16> t{std::string_view{}};
    CHECK(t.empty());
}

TEST_CASE("fixed_string: copies are independent") {
    fixed_string<8> a("one");
    fixed_string<8> b = a;
    a.assign("two");
    CHECK(b == "one");
    CHECK(a == "two");
}

TEST_CASE("fixed_string: keeps embedded NUL bytes") {
    using namespace std::string_view_literals;
    fixed_string<8> s("a\0b"sv);
    CHECK(s.size() == 3);
    CHECK(s.view() == "a\0b"sv);
}

TEST_CASE("fixed_string: streams its characters") {
    std::ostringstream os;
    os << fixed_string<8>("req_1") << '|';
    CHECK(os.str() == "req_1|");
}

} // TEST_SUITE("unit")
