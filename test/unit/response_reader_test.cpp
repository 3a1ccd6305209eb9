// The response reader, fed by hand: what completes an answer, what it may cost, what is skipped.
#include <doctest/doctest.h>

#include <stripe_asio/detail/response_reader.hpp>

#include <algorithm>
#include <cstring>
#include <string>

using stripe_asio::errc;
using stripe_asio::error_code;
using stripe_asio::detail::read_progress;
using stripe_asio::detail::response_limits;
using stripe_asio::detail::response_reader;
namespace http = boost::beast::http;

namespace {

/// Appends to the buffer as the engine does, what fits; false when not all of it did (the
/// buffer is bounded).
bool append(boost::beast::flat_buffer& b, std::string_view bytes) {
    std::size_t n = std::min(bytes.size(), b.max_size() - b.size());
    auto mb = b.prepare(n);
    std::memcpy(mb.data(), bytes.data(), n);
    b.commit(n);
    return n == bytes.size();
}

struct reading {
    response_limits limits;
    response_reader reader;
    boost::beast::flat_buffer buffer;
    error_code ec;

    explicit reading(response_limits l = {}) : limits(l), buffer(l.max_buffered()) { reader.start(limits); }

    /// Feeds `bytes` in pieces of at most `step`, as much as the bounded buffer takes each
    /// time; the result of the last feed.
    read_progress feed(std::string_view bytes, std::size_t step = 1 << 20) {
        read_progress p = read_progress::need_more;
        while (!bytes.empty() && !ec && p != read_progress::done) {
            std::size_t n = std::min({step, bytes.size(), buffer.max_size() - buffer.size()});
            append(buffer, bytes.substr(0, n));
            bytes.remove_prefix(n);
            p = reader.feed(buffer, ec);
            REQUIRE((n > 0 || ec)); // a full buffer is refused, never left stuck
        }
        return p;
    }
};

const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nRequest-Id: req_1\r\n\r\nhello";

} // namespace

TEST_SUITE("unit") {

TEST_CASE("response_reader: a response completes, in one piece or byte by byte; what follows stays") {
    for (std::size_t step : {std::size_t(1), std::size_t(7), ok.size() + 4}) {
        reading r;
        CHECK(r.feed(ok + "NEXT", step) == read_progress::done);
        CHECK_FALSE(r.ec);
        CHECK(r.reader.status() == 200);
        CHECK(r.reader.body() == "hello");
        CHECK(r.reader.field("request-id") == "req_1");
        CHECK(r.reader.keep_alive());
        if (step > ok.size()) CHECK(r.buffer.size() == 4); // the bytes after the answer are not consumed
    }
}

TEST_CASE("response_reader: interim 1xx answers are skipped while their bytes fit the header limit; 101 is "
          "refused") {
    reading r;
    CHECK(r.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok) ==
          read_progress::done);
    CHECK(r.reader.status() == 200);
    CHECK(r.reader.body() == "hello");

    // RFC 9110 sets no count: fifty are answers like any other.
    const std::string continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
    std::string fifty;
    for (int i = 0; i < 50; ++i) fifty += continue_100;
    reading many;
    CHECK(many.feed(fifty + ok) == read_progress::done);
    CHECK_FALSE(many.ec);
    CHECK(many.reader.body() == "hello");

    // Past the header limit in all, they are refused as too large, however they are split.
    response_limits limits;
    limits.header_bytes = 1024;
    std::string endless;
    while (endless.size() <= limits.header_bytes) endless += continue_100;
    for (std::size_t step : {std::size_t(1), std::size_t(7), endless.size()}) {
        CAPTURE(step);
        reading too_many(limits);
        too_many.feed(endless + ok, step);
        CHECK(too_many.ec == errc::response_too_large);
    }

    reading upgrade;
    upgrade.feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n" + ok);
    CHECK(upgrade.ec == errc::malformed_response);
}

TEST_CASE("response_reader: chunk extensions and trailers count against the framing limit") {
    response_limits limits;
    limits.framing_bytes = 1024;
    limits.header_bytes = 1024;
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    reading small(limits);
    CHECK(small.feed(head + "5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n") == read_progress::done);
    CHECK(small.reader.body() == "hello");

    // One endless extension: refused once the buffer is full, never more memory than that.
    reading endless(limits);
    endless.feed(head + "5");
    std::string ext;
    for (int i = 0; i < 100; ++i) ext += ";a=b";
    for (bool room = true; room && !endless.ec;) {
        room = append(endless.buffer, ext);
        endless.reader.feed(endless.buffer, endless.ec);
    }
    CHECK(endless.ec == errc::response_too_large);
    CHECK(endless.buffer.size() <= limits.max_buffered());

    // Many chunks, each with an extension that fits: the sum is what is refused.
    reading many(limits);
    many.feed(head);
    for (int i = 0; i < 100 && !many.ec; ++i) many.feed("1;" + std::string(200, 'e') + "\r\nx\r\n");
    CHECK(many.ec == errc::response_too_large);

    reading trailers(limits);
    trailers.feed(head + "1\r\nx\r\n0\r\n");
    for (int i = 0; i < 100 && !trailers.ec; ++i)
        trailers.feed("X-T" + std::to_string(i) + ": " + std::string(100, 't') + "\r\n");
    CHECK(trailers.ec == errc::response_too_large);
}

TEST_CASE("response_reader: body and header limits") {
    response_limits limits;
    limits.body_bytes = 4;
    reading body(limits);
    body.feed(ok);
    CHECK(body.ec == http::error::body_limit);

    reading chunked(limits);
    chunked.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\nabc\r\n");
    CHECK(chunked.ec == http::error::body_limit);

    reading header;
    header.feed("HTTP/1.1 200 OK\r\nX-Big: " + std::string(20 * 1024, 'h') + "\r\n\r\n", 1024);
    CHECK((header.ec == http::error::header_limit || header.ec == errc::response_too_large));
}

TEST_CASE("response_reader: the end of the stream") {
    reading nothing;
    CHECK(nothing.reader.end_of_stream(nothing.ec) == read_progress::need_more);
    CHECK(nothing.ec == http::error::end_of_stream);

    reading until_close;
    CHECK(until_close.feed("HTTP/1.0 200 OK\r\n\r\n{\"a\":1}") == read_progress::need_more);
    CHECK(until_close.reader.end_of_stream(until_close.ec) == read_progress::done);
    CHECK_FALSE(until_close.ec);
    CHECK(until_close.reader.body() == "{\"a\":1}");
    CHECK_FALSE(until_close.reader.keep_alive());

    reading cut;
    cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    cut.reader.end_of_stream(cut.ec);
    CHECK(cut.ec == http::error::partial_message);

    reading interim_only;
    interim_only.feed("HTTP/1.1 100 Continue\r\n\r\n");
    interim_only.reader.end_of_stream(interim_only.ec);
    CHECK(interim_only.ec);
}

TEST_CASE("response_reader: framing the parser refuses is an error, not an answer") {
    for (std::string bad : {std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
                            std::string("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
                            std::string("HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello"),
                            std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
                            std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"),
                            std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
                            std::string("HTTP/1.1 2000 OK\r\n\r\n"), std::string("HELLO\r\n\r\n")}) {
        reading r;
        INFO(bad);
        r.feed(bad);
        CHECK(r.ec);
    }
}

TEST_CASE("response_reader: a reused reader keeps its body storage, and lets a large one go") {
    reading r;
    r.feed(ok);
    r.reader.start(r.limits);
    r.feed(ok);
    const char* first = r.reader.body().data();
    r.reader.start(r.limits);
    r.feed(ok);
    CHECK(r.reader.body().data() == first);

    std::string big = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'b');
    r.reader.start(r.limits);
    r.feed(big, 4096);
    CHECK(r.reader.body().size() == 100000);
    r.reader.start(r.limits);
    r.feed(ok);
    CHECK(r.reader.body() == "hello");
}

} // TEST_SUITE("unit")
