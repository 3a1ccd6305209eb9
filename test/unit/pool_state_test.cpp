// pool_state: the connection pool's decisions (open, reuse, replace, wait, overflow), no I/O.
#include <doctest/doctest.h>

#include <stripe_asio/detail/pool_state.hpp>

#include <vector>

namespace {

struct conn {
    int id;
};

using pool = stripe_asio::detail::pool_state<conn>;
using kind = pool::acquire_kind;
using waiter = pool::waiter;

// Takes a slot that must be free, as a caller that then opens a connection in it.
void open_one(pool& p) {
    auto r = p.acquire();
    REQUIRE(r.kind == kind::open);
    CHECK(r.connection == nullptr);
}

// Queues `w` after acquire() said to wait.
void wait_for_one(pool& p, waiter& w) {
    auto r = p.acquire();
    REQUIRE(r.kind == kind::wait);
    p.enqueue(w);
}

} // namespace

TEST_SUITE("unit") {

TEST_CASE("pool: opens up to max_connections, then callers wait") {
    pool p(2, 10);
    CHECK(p.max_connections() == 2);
    CHECK(p.slots_used() == 0);
    open_one(p);
    CHECK(p.slots_used() == 1);
    open_one(p);
    CHECK(p.slots_used() == 2);
    auto r = p.acquire();
    CHECK(r.kind == kind::wait);
    CHECK(r.connection == nullptr);
    CHECK(p.slots_used() == 2);
    CHECK(p.waiting() == 0); // acquire alone does not queue anybody
}

TEST_CASE("pool: overflow once max_pending callers wait") {
    pool p(1, 2);
    open_one(p);
    waiter w1, w2;
    wait_for_one(p, w1);
    CHECK(p.waiting() == 1);
    wait_for_one(p, w2);
    CHECK(p.waiting() == 2);
    CHECK(p.acquire().kind == kind::overflow);
    // Once one leaves the queue, there is room again.
    p.remove(w2);
    CHECK(p.waiting() == 1);
    CHECK(p.acquire().kind == kind::wait);
    p.remove(w1); // a waiter leaves the queue before it is destroyed (the hooks assert it)
}

TEST_CASE("pool: max_pending 0 overflows as soon as the slots are taken") {
    pool p(1, 0);
    open_one(p);
    CHECK(p.acquire().kind == kind::overflow);
}

TEST_CASE("pool: waiters are served first come, first served") {
    pool p(1, 10);
    open_one(p);
    conn c{1};
    waiter w1, w2, w3;
    wait_for_one(p, w1);
    wait_for_one(p, w2);
    wait_for_one(p, w3);
    CHECK(p.waiting() == 3);
    CHECK(p.front_waiter() == &w1);

    CHECK(p.release(&c) == &w1);
    CHECK(p.waiting() == 2);
    CHECK(p.front_waiter() == &w2);
    CHECK(p.release(&c) == &w2);
    CHECK(p.release(&c) == &w3);
    CHECK(p.waiting() == 0);
    CHECK(p.front_waiter() == nullptr);
    for (waiter* w : {&w1, &w2, &w3}) {
        CHECK(w->granted);
        CHECK_FALSE(w->queued());
        CHECK(w->connection == &c);
    }
    CHECK(p.slots_used() == 1);
    CHECK(p.idle().empty());
}

TEST_CASE("pool: a reusable connection goes straight to the oldest waiter") {
    pool p(2, 10);
    open_one(p);
    open_one(p);
    conn a{1}, b{2};
    waiter w1, w2;
    wait_for_one(p, w1);
    wait_for_one(p, w2);
    CHECK(p.release(&b) == &w1);
    CHECK(w1.granted);
    CHECK(w1.connection == &b);
    CHECK_FALSE(w2.granted);
    CHECK(w2.queued());
    CHECK(p.idle().empty());
    CHECK(p.slots_used() == 2);
    CHECK(p.release(&a) == &w2);
    CHECK(w2.connection == &a);
}

TEST_CASE("pool: release(nullptr) hands the slot, without a connection, to the waiter") {
    pool p(1, 10);
    open_one(p);
    conn leftover{99};
    waiter w;
    w.connection = &leftover; // must be overwritten
    wait_for_one(p, w);
    CHECK(p.release(nullptr) == &w);
    CHECK(w.granted);
    CHECK_FALSE(w.queued());
    CHECK(w.connection == nullptr); // open a new one in it
    CHECK(p.slots_used() == 1); // the slot changed hands, it was not freed
    CHECK(p.waiting() == 0);
}

TEST_CASE("pool: with no waiters a reusable connection goes idle and is reused last-in first-out") {
    pool p(3, 10);
    conn c1{1}, c2{2}, c3{3};
    open_one(p);
    open_one(p);
    open_one(p);
    CHECK(p.release(&c1) == nullptr);
    CHECK(p.release(&c2) == nullptr);
    CHECK(p.release(&c3) == nullptr);
    CHECK(p.idle() == std::vector<conn*>{&c1, &c2, &c3});
    CHECK(p.slots_used() == 3); // idle connections keep their slots

    auto r = p.acquire();
    CHECK(r.kind == kind::reuse);
    CHECK(r.connection == &c3);
    r = p.acquire();
    CHECK(r.kind == kind::reuse);
    CHECK(r.connection == &c2);
    CHECK(p.release(&c3) == nullptr);
    r = p.acquire();
    CHECK(r.kind == kind::reuse);
    CHECK(r.connection == &c3);
    CHECK(p.idle() == std::vector<conn*>{&c1});
    CHECK(p.slots_used() == 3);
}

TEST_CASE("pool: an idle connection is reused before a free slot is opened") {
    pool p(2, 10);
    conn c{7};
    open_one(p);
    p.release(&c);
    auto r = p.acquire();
    CHECK(r.kind == kind::reuse);
    CHECK(r.connection == &c);
    CHECK(p.slots_used() == 1);
}

TEST_CASE("pool: release(nullptr) with no waiters frees the slot") {
    pool p(2, 10);
    open_one(p);
    open_one(p);
    CHECK(p.release(nullptr) == nullptr);
    CHECK(p.slots_used() == 1);
    CHECK(p.idle().empty());
    open_one(p); // the slot can be taken again
    CHECK(p.slots_used() == 2);
    CHECK(p.acquire().kind == kind::wait);
}

TEST_CASE("pool: remove() of a middle waiter keeps the others in order") {
    pool p(1, 10);
    open_one(p);
    waiter w1, w2, w3;
    wait_for_one(p, w1);
    wait_for_one(p, w2);
    wait_for_one(p, w3);
    p.remove(w2);
    CHECK_FALSE(w2.queued());
    CHECK_FALSE(w2.granted);
    CHECK(p.waiting() == 2);
    conn c{1};
    CHECK(p.release(&c) == &w1);
    CHECK(p.release(&c) == &w3);
    CHECK(p.release(&c) == nullptr);
    CHECK_FALSE(w2.granted);
    CHECK(p.idle() == std::vector<conn*>{&c});
}

TEST_CASE("pool: remove() of the first and of the last waiter") {
    pool p(1, 10);
    open_one(p);
    waiter w1, w2, w3;
    wait_for_one(p, w1);
    wait_for_one(p, w2);
    wait_for_one(p, w3);
    p.remove(w1);
    CHECK(p.front_waiter() == &w2);
    p.remove(w3);
    CHECK(p.front_waiter() == &w2);
    CHECK(p.waiting() == 1);
    waiter w4;
    wait_for_one(p, w4); // appended after w2, so the tail was fixed up
    CHECK(p.release(nullptr) == &w2);
    CHECK(p.release(nullptr) == &w4);
    CHECK(p.waiting() == 0);
    CHECK(p.front_waiter() == nullptr);
}

TEST_CASE("pool: remove() is a no-op once the waiter was served, or if never queued") {
    pool p(1, 10);
    open_one(p);
    waiter w1, w2, never;
    wait_for_one(p, w1);
    wait_for_one(p, w2);
    conn c{1};
    REQUIRE(p.release(&c) == &w1);
    p.remove(w1); // e.g. its timer fired in the same tick: must not unlink w2
    p.remove(never);
    CHECK(p.waiting() == 1);
    CHECK(p.front_waiter() == &w2);
    CHECK(w1.granted);
    CHECK(w1.connection == &c);
    CHECK(p.release(&c) == &w2);
}

TEST_CASE("pool: a fresh acquire skips idle connections and opens when a slot is free") {
    pool p(2, 10);
    conn c{1};
    open_one(p);
    p.release(&c);
    auto r = p.acquire(true);
    CHECK(r.kind == kind::open);
    CHECK(r.connection == nullptr);
    CHECK(p.idle() == std::vector<conn*>{&c});
    CHECK(p.slots_used() == 2);
}

TEST_CASE("pool: a fresh acquire at the limit replaces the oldest idle connection") {
    pool p(3, 10);
    conn c1{1}, c2{2}, c3{3};
    open_one(p);
    open_one(p);
    open_one(p);
    p.release(&c1);
    p.release(&c2);
    p.release(&c3);
    auto r = p.acquire(true);
    CHECK(r.kind == kind::replace);
    CHECK(r.connection == &c1);
    CHECK(p.idle() == std::vector<conn*>{&c2, &c3});
    CHECK(p.slots_used() == 3); // the slot moves from the old connection to the new one
}

TEST_CASE("pool: a fresh acquire at the limit with nothing idle waits") {
    pool p(1, 10);
    open_one(p);
    CHECK(p.acquire(true).kind == kind::wait);
    pool q(1, 0);
    open_one(q);
    CHECK(q.acquire(true).kind == kind::overflow);
}

TEST_CASE("pool: evict_idle with no waiters frees the slot") {
    pool p(2, 10);
    conn c1{1}, c2{2};
    open_one(p);
    open_one(p);
    p.release(&c1);
    p.release(&c2);
    CHECK(p.evict_idle(&c1) == nullptr);
    CHECK(p.idle() == std::vector<conn*>{&c2});
    CHECK(p.slots_used() == 1);
    CHECK(p.acquire(true).kind == kind::open);
}

TEST_CASE("pool: evict_idle of a connection that is not idle changes nothing") {
    pool p(2, 10);
    conn idle{1}, busy{2};
    open_one(p);
    open_one(p);
    p.release(&idle);
    CHECK(p.evict_idle(&busy) == nullptr);
    CHECK(p.slots_used() == 2);
    CHECK(p.idle() == std::vector<conn*>{&idle});
    CHECK(p.evict_idle(&idle) == nullptr);
    CHECK(p.evict_idle(&idle) == nullptr); // twice: the second is a no-op
    CHECK(p.slots_used() == 1);
}

TEST_CASE("pool: evict_idle passes the freed slot to a waiter") {
    // acquire() never lets callers wait while a connection is idle, but the pool must still hand
    // a freed slot on if a waiter is queued when an idle connection is closed.
    pool p(1, 10);
    conn c{1};
    open_one(p);
    p.release(&c);
    waiter w;
    p.enqueue(w);
    CHECK(p.evict_idle(&c) == &w);
    CHECK(w.granted);
    CHECK(w.connection == nullptr);
    CHECK(p.idle().empty());
    CHECK(p.slots_used() == 1);
    CHECK(p.waiting() == 0);
}

TEST_CASE("pool: waiting() counts enqueues, removals and grants") {
    pool p(1, 10);
    open_one(p);
    std::vector<waiter> ws(5);
    for (auto& w : ws) wait_for_one(p, w);
    CHECK(p.waiting() == 5);
    p.remove(ws[4]);
    CHECK(p.waiting() == 4);
    p.release(nullptr);
    CHECK(p.waiting() == 3);
    p.remove(ws[0]); // already served
    CHECK(p.waiting() == 3);
    p.remove(ws[2]);
    CHECK(p.waiting() == 2);
    CHECK(p.release(nullptr) == &ws[1]);
    CHECK(p.release(nullptr) == &ws[3]);
    CHECK(p.waiting() == 0);
    CHECK(p.release(nullptr) == nullptr);
    CHECK(p.slots_used() == 0);
}

TEST_CASE("pool: a spare slot (min_idle) is taken only while one is free and nobody waits") {
    pool p(2, 10);
    CHECK(p.take_spare_slot());
    CHECK(p.slots_used() == 1);
    conn warm{7};
    CHECK(p.release(&warm) == nullptr); // opened ahead of demand: it goes idle
    CHECK(p.idle().size() == 1);
    CHECK(p.take_spare_slot()); // the second slot
    CHECK_FALSE(p.take_spare_slot()); // full
    CHECK(p.slots_used() == 2);
    auto r = p.acquire(); // a caller gets the warm one
    CHECK(r.kind == kind::reuse);
    CHECK(r.connection == &warm);
}

TEST_CASE("pool: no spare slot while callers wait, and a spare that fails hands its slot on") {
    pool p(2, 10);
    CHECK(p.take_spare_slot());
    open_one(p);
    waiter w;
    wait_for_one(p, w);
    CHECK_FALSE(p.take_spare_slot());
    // The spare connection could not be opened: its slot goes to the waiter, to open its own.
    CHECK(p.release(nullptr) == &w);
    CHECK(w.granted);
    CHECK(w.connection == nullptr);
    CHECK(p.slots_used() == 2);
}

} // TEST_SUITE("unit")
