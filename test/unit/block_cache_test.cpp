// block_cache: per-thread recycling of call and operation memory by size class.
#include <doctest/doctest.h>

#include <stripe_asio/detail/block_cache.hpp>

#include <cstdint>
#include <set>
#include <thread>
#include <vector>

using stripe_asio::detail::block_cache;
using stripe_asio::detail::cached_allocator;

TEST_SUITE("unit") {

TEST_CASE("block_cache: sizes map to the smallest class that holds them") {
    CHECK(block_cache::class_of(1) == 0);
    CHECK(block_cache::class_of(64) == 0);
    CHECK(block_cache::class_of(65) == 1);
    CHECK(block_cache::class_of(512) == 3);
    CHECK(block_cache::class_of(513) == 4); // 640: above 512 B the classes are 128 B apart
    CHECK(block_cache::class_of(872) == 6); // 896
    CHECK(block_cache::class_of(1000) == 7);
    CHECK(block_cache::class_of(1024) == 7);
    CHECK(block_cache::class_of(1025) == block_cache::classes); // not cached
}

TEST_CASE("block_cache: a freed block is handed out again for any size of its class") {
    void* a = block_cache::allocate(900);
    block_cache::deallocate(a, 900);
    void* b = block_cache::allocate(1000); // same class (1 KiB)
    CHECK(b == a);
    block_cache::deallocate(b, 1000);
    void* c = block_cache::allocate(600); // another class (640 B): another block
    CHECK(c != a);
    block_cache::deallocate(c, 600);
}

TEST_CASE("block_cache: blocks are distinct while in use, and reused last in, first out") {
    std::vector<void*> live;
    for (int i = 0; i < 8; ++i) live.push_back(block_cache::allocate(200));
    CHECK(std::set<void*>(live.begin(), live.end()).size() == live.size());
    for (void* p : live) block_cache::deallocate(p, 200);
    for (auto it = live.rbegin(); it != live.rend(); ++it) {
        void* again = block_cache::allocate(200);
        CHECK(again == *it);
    }
    for (void* p : live) block_cache::deallocate(p, 200);
}

TEST_CASE("block_cache: blocks over 1 KiB go to the heap and come back from it") {
    void* big = block_cache::allocate(4096);
    REQUIRE(big != nullptr);
    static_cast<unsigned char*>(big)[4095] = 1; // the whole block is usable
    block_cache::deallocate(big, 4096);
}

TEST_CASE("block_cache: each thread keeps its own blocks, and a thread's blocks die with it") {
    void* mine = block_cache::allocate(100);
    block_cache::deallocate(mine, 100);
    void* theirs = nullptr;
    std::thread([&theirs] {
        theirs = block_cache::allocate(100);
        block_cache::deallocate(theirs, 100); // kept by that thread, freed when it exits
    }).join();
    void* again = block_cache::allocate(100);
    CHECK(again == mine);
    block_cache::deallocate(again, 100);
}

TEST_CASE("cached_allocator: a standard allocator over the cache") {
    cached_allocator<std::uint64_t> alloc;
    std::uint64_t* p = alloc.allocate(10);
    p[9] = 42;
    CHECK(p[9] == 42);
    alloc.deallocate(p, 10);
    CHECK(cached_allocator<int>() == cached_allocator<std::uint64_t>());
}

} // TEST_SUITE("unit")
