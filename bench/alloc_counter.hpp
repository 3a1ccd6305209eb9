// Counts every heap allocation of the process: the global operator new family (C++ only) and
// the malloc family (everything: C++, OpenSSL, libc), by replacing both in alloc_counter.cpp.
// Counting is per thread and lock-free; a snapshot sums the threads.
#ifndef STRIPE_ASIO_BENCH_ALLOC_COUNTER_HPP
#define STRIPE_ASIO_BENCH_ALLOC_COUNTER_HPP

#include <cstdint>

namespace bench::alloc {

struct counts {
    std::uint64_t mallocs = 0; ///< malloc, calloc, realloc, aligned allocations (C++ ones included)
    std::uint64_t frees = 0; ///< free and realloc(p, 0)
    std::uint64_t cpp_news = 0; ///< operator new and new[], every overload
    std::uint64_t cpp_deletes = 0; ///< operator delete and delete[], every overload
    std::int64_t live_bytes = 0; ///< bytes held by live malloc blocks, while tracked (see track_live_bytes)
};

/// What was counted so far, over all threads.
counts snapshot() noexcept;

/// Also keep count of the bytes in live malloc blocks (their usable sizes), from now until
/// switched off. Off by default: it costs a malloc_usable_size() per allocation and per free.
/// A block allocated while off and freed while on is subtracted all the same: compare
/// snapshots taken while on, across which such frees are rare.
void track_live_bytes(bool on) noexcept;

/// False in sanitizer builds: their allocators stay in place and nothing is counted.
bool counting() noexcept;

} // namespace bench::alloc

#endif
