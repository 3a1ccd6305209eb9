// A per-thread cache of small memory blocks, and the allocator over it that calls and their I/O
// operations use when their handler brings no allocator of its own.
//
// Asio recycles handler memory too, but keeps two blocks per kind, which is too few when dozens
// of calls, each with its own operation and its own I/O, interleave on one thread: blocks are
// taken by smaller requests and the larger ones fall through to the heap. Here blocks come in
// eight size classes (64 B to 1 KiB), up to `per_class_limit` of each per thread, so a steady
// load allocates nothing after warm-up. Larger blocks go straight to operator new. Above 512 B
// the classes are 128 B apart: a call object (about 870 B) would waste 150 B in a 1 KiB block,
// and while 100,000 calls wait that is 15 MB.
#ifndef STRIPE_ASIO_DETAIL_BLOCK_CACHE_HPP
#define STRIPE_ASIO_DETAIL_BLOCK_CACHE_HPP

#include <array>
#include <cstddef>
#include <new>

namespace stripe_asio::detail {

class block_cache {
public:
    static constexpr std::array<std::size_t, 8> class_sizes{64, 128, 256, 512, 640, 768, 896, 1024};
    static constexpr std::size_t classes = class_sizes.size();
    static constexpr std::size_t largest = class_sizes.back();
    static constexpr std::size_t per_class_limit = 256; ///< at most 1.1 MiB kept per thread

    static void* allocate(std::size_t size) {
        std::size_t k = class_of(size);
        if (k == classes) return ::operator new(size);
        auto& lists = local();
        if (free_block* b = lists.head[k]) {
            lists.head[k] = b->next;
            --lists.count[k];
            return b;
        }
        return ::operator new(class_sizes[k]);
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

    /// The smallest class that holds `size`, or `classes` when none does.
    static constexpr std::size_t class_of(std::size_t size) noexcept {
        std::size_t k = 0;
        while (k < classes && class_sizes[k] < size) ++k;
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
