// The benchmark's allocation counter. glibc's malloc family is interposed here: the program
// defines malloc, free, calloc, realloc and the aligned forms, which forward to glibc's own
// entry points (__libc_malloc, ...) and count, so allocations made inside libstdc++, OpenSSL
// and Boost.JSON are counted too. The global operator new family is replaced on top of it,
// so C++ allocations are counted twice: once as C++, once as malloc.
//
// Each thread counts in its own cache line with plain loads and stores (no locked instruction
// on the allocation path); snapshot() adds the lines up. Sanitizer builds keep their own
// allocators and count nothing.
#include "alloc_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRIPE_ASIO_BENCH_COUNT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define STRIPE_ASIO_BENCH_COUNT 0
#endif
#endif
#ifndef STRIPE_ASIO_BENCH_COUNT
#define STRIPE_ASIO_BENCH_COUNT 1
#endif

namespace bench::alloc {
namespace {

struct alignas(64) thread_counts {
    std::atomic<std::uint64_t> mallocs{0}, frees{0}, news{0}, deletes{0};
    std::atomic<std::int64_t> live{0};
};

constexpr std::size_t max_threads = 256;
thread_counts per_thread[max_threads]; // constant-initialised: usable before main
thread_counts overflow; // shared by threads past max_threads
std::atomic<std::size_t> threads_seen{0};
thread_local thread_counts* mine = nullptr; // trivial: no TLS initialiser, no allocation
std::atomic<bool> live_bytes_on{false};

[[maybe_unused]] thread_counts& own_counts() noexcept {
    if (!mine) {
        std::size_t i = threads_seen.fetch_add(1, std::memory_order_relaxed);
        mine = i < max_threads ? &per_thread[i] : &overflow;
    }
    return *mine;
}

template <class T>
[[maybe_unused]] void add(thread_counts& t, std::atomic<T>& c, T n) noexcept {
    if (&t == &overflow) {
        c.fetch_add(n, std::memory_order_relaxed);
    } else {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); // only this thread writes
    }
}

} // namespace

counts snapshot() noexcept {
    counts sum;
    auto add_up = [&sum](const thread_counts& t) {
        sum.mallocs += t.mallocs.load(std::memory_order_relaxed);
        sum.frees += t.frees.load(std::memory_order_relaxed);
        sum.cpp_news += t.news.load(std::memory_order_relaxed);
        sum.cpp_deletes += t.deletes.load(std::memory_order_relaxed);
        sum.live_bytes += t.live.load(std::memory_order_relaxed);
    };
    std::size_t n = threads_seen.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n && i < max_threads; ++i) add_up(per_thread[i]);
    add_up(overflow);
    return sum;
}

bool counting() noexcept { return STRIPE_ASIO_BENCH_COUNT != 0; }

void track_live_bytes(bool on) noexcept { live_bytes_on.store(on, std::memory_order_relaxed); }

} // namespace bench::alloc

#if STRIPE_ASIO_BENCH_COUNT

// glibc's real allocator, under the names it exports for exactly this use.
extern "C" {
void* __libc_malloc(std::size_t size) noexcept;
void __libc_free(void* p) noexcept;
void* __libc_calloc(std::size_t n, std::size_t size) noexcept;
void* __libc_realloc(void* p, std::size_t size) noexcept;
void* __libc_memalign(std::size_t alignment, std::size_t size) noexcept;
void* __libc_valloc(std::size_t size) noexcept;
void* __libc_pvalloc(std::size_t size) noexcept;
}

namespace {

using namespace bench::alloc;

bool tracking_live_bytes() noexcept { return live_bytes_on.load(std::memory_order_relaxed); }

void* counted(void* p) noexcept {
    if (p) {
        thread_counts& t = own_counts();
        add<std::uint64_t>(t, t.mallocs, 1);
        if (tracking_live_bytes()) add<std::int64_t>(t, t.live, static_cast<std::int64_t>(malloc_usable_size(p)));
    }
    return p;
}

void count_free(void* p) noexcept {
    thread_counts& t = own_counts();
    add<std::uint64_t>(t, t.frees, 1);
    if (tracking_live_bytes()) add<std::int64_t>(t, t.live, -static_cast<std::int64_t>(malloc_usable_size(p)));
}

bool valid_alignment(std::size_t alignment) noexcept { return alignment != 0 && (alignment & (alignment - 1)) == 0; }

} // namespace

extern "C" {

void* malloc(std::size_t size) noexcept { return counted(__libc_malloc(size)); }

void free(void* p) noexcept {
    if (!p) return;
    count_free(p);
    __libc_free(p);
}

void* calloc(std::size_t n, std::size_t size) noexcept { return counted(__libc_calloc(n, size)); }

void* realloc(void* p, std::size_t size) noexcept {
    if (!p) return malloc(size);
    if (size == 0) { // glibc frees and returns null
        free(p);
        return nullptr;
    }
    const bool live = tracking_live_bytes();
    const auto old_size = live ? static_cast<std::int64_t>(malloc_usable_size(p)) : 0;
    void* q = __libc_realloc(p, size);
    if (q) { // a move or a resize: one allocation and one free, as the heap sees it
        thread_counts& t = own_counts();
        add<std::uint64_t>(t, t.mallocs, 1);
        add<std::uint64_t>(t, t.frees, 1);
        if (live) add<std::int64_t>(t, t.live, static_cast<std::int64_t>(malloc_usable_size(q)) - old_size);
    }
    return q;
}

void* reallocarray(void* p, std::size_t n, std::size_t size) noexcept {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc(p, bytes);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept { return counted(__libc_memalign(alignment, size)); }

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    if (!valid_alignment(alignment)) {
        errno = EINVAL;
        return nullptr;
    }
    return counted(__libc_memalign(alignment, size));
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
    if (!valid_alignment(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
    void* p = counted(__libc_memalign(alignment, size));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void* valloc(std::size_t size) noexcept { return counted(__libc_valloc(size)); }

void* pvalloc(std::size_t size) noexcept { return counted(__libc_pvalloc(size)); }

} // extern "C"

// ---- the global operator new family, over the counted malloc

namespace {

void* cpp_allocate(std::size_t size, std::size_t alignment = 0) {
    thread_counts& t = own_counts();
    add<std::uint64_t>(t, t.news, 1);
    if (size == 0) size = 1;
    for (;;) {
        void* p = nullptr;
        if (alignment == 0) {
            p = std::malloc(size);
        } else if (posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment, size) != 0) {
            p = nullptr;
        }
        if (p) return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler) throw std::bad_alloc();
        handler();
    }
}

void* cpp_allocate_nothrow(std::size_t size, std::size_t alignment = 0) noexcept {
    try {
        return cpp_allocate(size, alignment);
    } catch (...) {
        return nullptr;
    }
}

void cpp_free(void* p) noexcept {
    if (!p) return;
    thread_counts& t = own_counts();
    add<std::uint64_t>(t, t.deletes, 1);
    std::free(p);
}

std::size_t to_size(std::align_val_t a) noexcept { return static_cast<std::size_t>(a); }

} // namespace

void* operator new(std::size_t size) { return cpp_allocate(size); }
void* operator new[](std::size_t size) { return cpp_allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return cpp_allocate_nothrow(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return cpp_allocate_nothrow(size); }
void* operator new(std::size_t size, std::align_val_t a) { return cpp_allocate(size, to_size(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return cpp_allocate(size, to_size(a)); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return cpp_allocate_nothrow(size, to_size(a));
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return cpp_allocate_nothrow(size, to_size(a));
}

void operator delete(void* p) noexcept { cpp_free(p); }
void operator delete[](void* p) noexcept { cpp_free(p); }
void operator delete(void* p, std::size_t) noexcept { cpp_free(p); }
void operator delete[](void* p, std::size_t) noexcept { cpp_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { cpp_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { cpp_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { cpp_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { cpp_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { cpp_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { cpp_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { cpp_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { cpp_free(p); }

#endif // STRIPE_ASIO_BENCH_COUNT
