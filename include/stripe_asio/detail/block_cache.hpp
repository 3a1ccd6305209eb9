// A per-thread cache of small memory blocks, and the allocator over it that calls and their I/O
// operations use when their handler brings no allocator of its own.
//
// Asio recycles handler memory too, but keeps two blocks per kind, which is too few when dozens
// of calls, each with its own operation and its own I/O, interleave on one thread: blocks are
// taken by smaller requests and the larger ones fall through to the heap. Here blocks come in
// five size classes (64 B to 1 KiB), up to `per_class_limit` of each per thread, so a steady
// load allocates nothing after warm-up. Larger blocks go straight to operator new.
#ifndef STRIPE_ASIO_DETAIL_BLOCK_CACHE_HPP
#define STRIPE_ASIO_DETAIL_BLOCK_CACHE_HPP

#include <cstddef>
#include <new>

namespace stripe_asio::detail {

class block_cache {
public:
    static constexpr std::size_t smallest = 64;
    static constexpr std::size_t classes = 5; // 64, 128, 256, 512, 1024
    static constexpr std::size_t largest = smallest << (classes - 1);
    static constexpr std::size_t per_class_limit = 256; ///< at most 512 KiB kept per thread

    static void* allocate(std::size_t size) {
        std::size_t k = class_of(size);
        if (k == classes) return ::operator new(size);
        auto& lists = local();
        if (free_block* b = lists.head[k]) {
            lists.head[k] = b->next;
            --lists.count[k];
            return b;
        }
        return ::operator new(smallest << k);
    }

    static void deallocate(void* p, std::size_t size) noexcept {
        std::size_t k = class_of(size);
        if (k == classes) {
            ::operator delete(p);
            return;
        }
        auto& lists = local();
        if (lists.count[k] >= per_class_limit) {
            ::operator delete(p);
            return;
        }
        auto* b = static_cast<free_block*>(p);
        b->next = lists.head[k];
        lists.head[k] = b;
        ++lists.count[k];
    }

    static constexpr std::size_t class_of(std::size_t size) noexcept {
        std::size_t k = 0;
        while (k < classes && (smallest << k) < size) ++k;
        return k;
    }

private:
    struct free_block {
        free_block* next;
    };
    struct free_lists {
        free_block* head[classes]{};
        std::size_t count[classes]{};
        ~free_lists() {
            for (free_block* h : head)
                while (h) {
                    free_block* next = h->next;
                    ::operator delete(h);
                    h = next;
                }
        }
    };
    static free_lists& local() noexcept {
        thread_local free_lists lists;
        return lists;
    }
};

/// A standard allocator over block_cache. Alignment up to that of operator new.
template <class T>
class cached_allocator {
public:
    using value_type = T;
    constexpr cached_allocator() noexcept = default;
    template <class U>
    constexpr cached_allocator(const cached_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned for the block cache");
        return static_cast<T*>(block_cache::allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { block_cache::deallocate(p, n * sizeof(T)); }

    template <class U>
    friend constexpr bool operator==(const cached_allocator&, const cached_allocator<U>&) noexcept {
        return true;
    }
};

} // namespace stripe_asio::detail

#endif
