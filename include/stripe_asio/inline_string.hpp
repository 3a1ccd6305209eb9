// Text kept inline up to N characters, on the heap beyond: the usual case (a UUID idempotency
// key, an account id, a request target) costs no allocation, and no input is ever cut short.
#ifndef STRIPE_ASIO_INLINE_STRING_HPP
#define STRIPE_ASIO_INLINE_STRING_HPP

#include <cstddef>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

namespace stripe_asio {

template <std::size_t N>
class inline_string {
public:
    inline_string() noexcept = default;
    inline_string(std::string_view s) { assign(s); }
    inline_string(const inline_string& other) { assign(other.view()); }
    inline_string& operator=(const inline_string& other) {
        if (this != &other) assign(other.view());
        return *this;
    }

    void assign(std::string_view s) {
        if (s.size() <= N) {
            if (!s.empty()) std::memmove(inline_, s.data(), s.size()); // `s` may be our own text
            size_ = s.size();
            heap_.clear();
        } else {
            heap_.assign(s);
            size_ = 0;
        }
    }
    void append(std::string_view s) {
        if (heap_.empty() && size_ <= N && s.size() <= N - size_) {
            s.copy(inline_ + size_, s.size());
            size_ += s.size();
            return;
        }
        if (heap_.empty()) heap_.assign(inline_, size_);
        heap_.append(s);
        size_ = 0;
    }
    inline_string& operator+=(std::string_view s) {
        append(s);
        return *this;
    }

    std::string_view view() const noexcept { return heap_.empty() ? std::string_view(inline_, size_) : heap_; }
    operator std::string_view() const noexcept { return view(); }
    std::string str() const { return std::string(view()); }
    bool empty() const noexcept { return view().empty(); }
    std::size_t size() const noexcept { return view().size(); }

    friend bool operator==(const inline_string& a, std::string_view b) noexcept { return a.view() == b; }
    friend std::ostream& operator<<(std::ostream& os, const inline_string& s) { return os << s.view(); }

private:
    char inline_[N]{};
    std::size_t size_ = 0;
    std::string heap_; ///< used (non-empty) only when the text is longer than N
};

} // namespace stripe_asio

#endif
