// A bump allocator over a caller's buffer, for the short-lived header map of one response: the
// parser's field nodes then cost no heap allocation. Falls back to the heap when the buffer is full.
#ifndef STRIPE_ASIO_DETAIL_ARENA_ALLOCATOR_HPP
#define STRIPE_ASIO_DETAIL_ARENA_ALLOCATOR_HPP

#include <cstddef>
#include <cstdint>
#include <new>

namespace stripe_asio::detail {

struct arena {
    explicit arena(unsigned char* data, std::size_t size) noexcept : begin(data), end(data + size), next(data) {}
    unsigned char* begin;
    unsigned char* end;
    unsigned char* next;

    bool owns(const void* p) const noexcept {
        auto* b = static_cast<const unsigned char*>(p);
        return b >= begin && b < end;
    }
};

template <class T>
class arena_allocator {
public:
    using value_type = T;

    explicit arena_allocator(arena& a) noexcept : arena_(&a) {}
    template <class U>
    arena_allocator(const arena_allocator<U>& other) noexcept : arena_(other.arena_) {}

    T* allocate(std::size_t n) {
        std::size_t bytes = n * sizeof(T);
        auto addr = reinterpret_cast<std::uintptr_t>(arena_->next);
        std::uintptr_t aligned = (addr + alignof(T) - 1) & ~(std::uintptr_t(alignof(T)) - 1);
        auto* start = reinterpret_cast<unsigned char*>(aligned);
        if (start >= arena_->next && start <= arena_->end && std::size_t(arena_->end - start) >= bytes) {
            arena_->next = start + bytes;
            return reinterpret_cast<T*>(start);
        }
        return static_cast<T*>(::operator new(bytes));
    }

    void deallocate(T* p, std::size_t) noexcept {
        if (!arena_->owns(p)) ::operator delete(p); // arena memory goes with the arena
    }

    template <class U>
    friend class arena_allocator;
    friend bool operator==(const arena_allocator& a, const arena_allocator& b) noexcept { return a.arena_ == b.arena_; }
    friend bool operator!=(const arena_allocator& a, const arena_allocator& b) noexcept { return a.arena_ != b.arena_; }

private:
    arena* arena_;
};

} // namespace stripe_asio::detail

#endif
