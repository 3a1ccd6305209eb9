// inline_string<N>: inline up to N characters, on the heap beyond, never cut short.
#include <doctest/doctest.h>

#include <stripe_asio/detail/inline_string.hpp>

#include <sstream>
#include <string>
#include <utility>

using stripe_asio::detail::inline_string;

TEST_SUITE("unit") {

TEST_CASE("inline_string: empty, short, exactly N and longer than N all read back whole") {
    CHECK(inline_string<8>().empty());
    for (std::string text :
         {std::string(), std::string("acct_1"), std::string(8, 'x'), std::string(9, 'y'), std::string(300, 'z')}) {
        inline_string<8> s(text);
        CHECK(s.view() == text);
        CHECK(s.size() == text.size());
        CHECK(s.str() == text);
        CHECK(s == text);
    }
}

TEST_CASE("inline_string: appending crosses from inline to heap without losing a character") {
    inline_string<8> s;
    s += "/v1/";
    CHECK(s == "/v1/");
    s += "acc";
    CHECK(s == "/v1/acc");
    s += "ounts/acct_123";
    CHECK(s == "/v1/accounts/acct_123");
    s += "/login_links";
    CHECK(s == "/v1/accounts/acct_123/login_links");
}

TEST_CASE("inline_string: assigning a short value after a long one uses the inline storage again") {
    inline_string<8> s(std::string(50, 'k'));
    s.assign("short");
    CHECK(s == "short");
    s.assign(s.view().substr(1)); // its own text, inline
    CHECK(s == "hort");
    std::string long_text(30, 'a');
    long_text += "bc";
    s.assign(long_text);
    s.assign(s.view().substr(27)); // its own text, from the heap
    CHECK(s == "aaabc");
}

TEST_CASE("inline_string: copies are independent, inline and heap alike") {
    inline_string<8> a("inline"), b(std::string(20, 'h'));
    inline_string<8> a2 = a, b2 = b;
    a.assign("changed");
    b.assign("x");
    CHECK(a2 == "inline");
    CHECK(b2 == std::string(20, 'h'));
    a2 = b2;
    CHECK(a2 == std::string(20, 'h'));
    inline_string<8> moved = std::move(b2);
    CHECK(moved == std::string(20, 'h'));
}

TEST_CASE("inline_string: streams its text") {
    std::ostringstream os;
    os << inline_string<4>("key-123");
    CHECK(os.str() == "key-123");
}

} // TEST_SUITE("unit")
