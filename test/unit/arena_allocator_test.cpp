// The bump allocator that holds a response's header map.
#include <stripe_asio/detail/arena_allocator.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using stripe_asio::detail::arena;
using stripe_asio::detail::arena_allocator;

TEST_SUITE("unit") {

TEST_CASE("arena allocator: serves from the buffer, aligned, then falls back to the heap") {
    alignas(16) unsigned char space[64];
    arena a(space, sizeof space);
    arena_allocator<char> chars(a);
    char* c = chars.allocate(3);
    CHECK(a.owns(c));
    arena_allocator<std::uint64_t> words(chars);
    std::uint64_t* w = words.allocate(2);
    CHECK(a.owns(w));
    CHECK(reinterpret_cast<std::uintptr_t>(w) % alignof(std::uint64_t) == 0);
    CHECK(reinterpret_cast<unsigned char*>(w) >= reinterpret_cast<unsigned char*>(c) + 3);
    std::uint64_t* big = words.allocate(100); // does not fit: heap
    CHECK_FALSE(a.owns(big));
    words.deallocate(big, 100);
    words.deallocate(w, 2); // no-op inside the arena
    chars.deallocate(c, 3);
    CHECK(chars == arena_allocator<char>(a));
}

TEST_CASE("arena allocator: a container works on it") {
    alignas(16) unsigned char space[256];
    arena a(space, sizeof space);
    std::vector<int, arena_allocator<int>> v{arena_allocator<int>(a)};
    for (int i = 0; i < 100; ++i) v.push_back(i); // outgrows the arena part-way
    CHECK(v.size() == 100);
    CHECK(v[99] == 99);
}

} // TEST_SUITE("unit")
