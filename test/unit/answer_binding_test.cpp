// answer_binding: which complete answers a client takes as its request's, fed by hand.
#include <doctest/doctest.h>

#include <stripe_asio/detail/answer_binding.hpp>

#include <string>

using stripe_asio::key_echo_policy;
using stripe_asio::detail::answer_binding;
using stripe_asio::detail::answer_marks;
using stripe_asio::detail::asked_object_id;
using stripe_asio::detail::recent_request_ids;

namespace {

/// An answer on a reused connection (what most of these are about), or on a new one.
answer_marks keyed(std::string_view sent, std::string_view echoed, std::string_view request_id,
                   bool first_on_connection = false) {
    return answer_marks{sent, echoed, request_id, first_on_connection};
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("answer binding: another request's key is refused under every policy, a key to a keyless request too") {
    for (auto policy : {key_echo_policy::learn, key_echo_policy::required, key_echo_policy::ignored}) {
        answer_binding b(policy);
        CHECK(b.judge(keyed("key-bob", "key-alice", "req_2")) != nullptr);
        CHECK(b.judge(keyed("", "key-alice", "req_3")) != nullptr); // a GET's answer with a key
        CHECK(b.judge(keyed("key-bob", "key-alice", "req_4", true)) != nullptr);
    }
}

TEST_CASE("answer binding (learn): a new connection's first answer without the key is the request's") {
    answer_binding b;
    CHECK(b.judge(keyed("key-1", "key-1", "req_1")) == nullptr);
    CHECK(b.expects_echo());
    // An error a server makes before its idempotency layer, on a connection opened for it.
    CHECK(b.judge(keyed("key-2", "", "req_2", true)) == nullptr);
    CHECK(b.expects_echo()); // still expected on reused connections
    CHECK(b.judge(keyed("key-3", "", "req_3")) != nullptr);
    // required means required.
    answer_binding strict(key_echo_policy::required);
    CHECK(strict.judge(keyed("key-1", "", "req_1", true)) != nullptr);
}

TEST_CASE("answer binding: a server that repeats its Request-Ids (a mock) is told by a new connection's first "
          "answer") {
    answer_binding b;
    CHECK(b.judge(keyed("", "", "req_123", true)) == nullptr);
    CHECK(b.ids_unique());
    // Reused connection: could be a copy, so refused (the request goes again on a new one).
    CHECK(b.judge(keyed("", "", "req_123")) != nullptr);
    // A new connection's first answer can't be a copy: the server repeats its ids.
    CHECK(b.judge(keyed("", "", "req_123", true)) == nullptr);
    CHECK_FALSE(b.ids_unique());
    CHECK(b.judge(keyed("", "", "req_123")) == nullptr);
    // Keys still bind.
    CHECK(b.judge(keyed("key-1", "key-1", "req_123")) == nullptr);
    CHECK(b.judge(keyed("key-2", "", "req_123")) != nullptr);
}

TEST_CASE("answer binding (learn): a missing key is accepted until the server has echoed one, then refused") {
    answer_binding b;
    CHECK_FALSE(b.expects_echo());
    CHECK(b.judge(keyed("key-1", "", "req_1")) == nullptr); // a server that may not echo
    CHECK_FALSE(b.expects_echo());
    CHECK(b.judge(keyed("key-2", "key-2", "req_2")) == nullptr); // it echoes: learned
    CHECK(b.expects_echo());
    // A middlebox's copy of an answer with the key taken out, read as the next request's answer.
    const char* why = b.judge(keyed("key-3", "", "req_3"));
    REQUIRE(why != nullptr);
    CHECK(std::string(why).find("Idempotency-Key") != std::string::npos);
    // A request without a key (GET) expects no echo.
    CHECK(b.judge(keyed("", "", "req_4")) == nullptr);
}

TEST_CASE("answer binding: required refuses a missing key from the start; ignored never does") {
    answer_binding required(key_echo_policy::required);
    CHECK(required.judge(keyed("key-1", "", "req_1")) != nullptr);
    CHECK(required.judge(keyed("key-1", "key-1", "req_2")) == nullptr);

    answer_binding ignored(key_echo_policy::ignored);
    CHECK(ignored.judge(keyed("key-1", "key-1", "req_1")) == nullptr);
    CHECK_FALSE(ignored.expects_echo());
    CHECK(ignored.judge(keyed("key-2", "", "req_2")) == nullptr);
}

TEST_CASE("answer binding: a copy of an earlier answer (its Request-Id) is refused, keyed or not") {
    answer_binding b(key_echo_policy::ignored); // a server whose keys never reach us
    CHECK(b.judge(keyed("key-alice", "", "req_alice")) == nullptr);
    CHECK(b.judge(keyed("key-bob", "", "req_alice")) != nullptr); // alice's answer, again
    CHECK(b.judge(keyed("", "", "req_alice")) != nullptr); // also for a GET
    CHECK(b.judge(keyed("key-bob", "", "req_bob")) == nullptr);
    // Answers without a Request-Id can't be told apart by it: accepted.
    CHECK(b.judge(keyed("key-carol", "", "")) == nullptr);
    CHECK(b.judge(keyed("key-dave", "", "")) == nullptr);
}

TEST_CASE("answer binding: a request's own answer replayed by the server (its key echoed) is its own") {
    answer_binding b;
    CHECK(b.judge(keyed("key-1", "key-1", "req_1")) == nullptr);
    // The same key, after a retry: Stripe may replay the stored answer whole.
    CHECK(b.judge(keyed("key-1", "key-1", "req_1")) == nullptr);
    // Without the key, from a server that echoes keys, it is nobody's.
    CHECK(b.judge(keyed("key-2", "", "req_1")) != nullptr);
}

TEST_CASE("recent request ids: bounded, the oldest forgotten first") {
    recent_request_ids ids;
    for (std::size_t i = 0; i < recent_request_ids::capacity; ++i) ids.remember("req_" + std::to_string(i));
    CHECK(ids.contains("req_0"));
    CHECK(ids.contains("req_255"));
    ids.remember("req_new");
    CHECK_FALSE(ids.contains("req_0"));
    CHECK(ids.contains("req_1"));
    CHECK(ids.contains("req_new"));
    CHECK_FALSE(ids.contains("req_never"));
}

TEST_CASE("asked object id: a Stripe id as the path's last segment, else nothing") {
    CHECK(asked_object_id("/v1/accounts/acct_1032D82eZvKYlo2C") == "acct_1032D82eZvKYlo2C");
    CHECK(asked_object_id("/prefix/v1/customers/cus_9s6XKzkNRiz8i3?expand%5B%5D=sources") == "cus_9s6XKzkNRiz8i3");
    CHECK(asked_object_id("/v1/checkout/sessions/cs_test_a1B2c3") == "cs_test_a1B2c3");
    CHECK(asked_object_id("/v1/accounts/acct_1/persons/person_1Ab") == "person_1Ab");
    // Resource names, not ids.
    CHECK(asked_object_id("/v1/accounts/acct_1032D82eZvKYlo2C/login_links").empty());
    CHECK(asked_object_id("/v1/accounts/acct_1/capabilities/card_payments").empty());
    CHECK(asked_object_id("/v1/balance").empty());
    CHECK(asked_object_id("/v1/customers").empty());
    CHECK(asked_object_id("/v1/files/_1").empty());
    CHECK(asked_object_id("/v1/files/Ab_1").empty());
    CHECK(asked_object_id("/v1/files/fi_1.json").empty());
    CHECK(asked_object_id("").empty());
}

} // TEST_SUITE
