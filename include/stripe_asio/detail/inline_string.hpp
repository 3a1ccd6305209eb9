// Text kept inline up to N characters, on the heap beyond: the usual case (a UUID idempotency
// key, an account id, a request target) costs no allocation, and no input is ever cut short.
// The engine's own; the public API has one string type, fixed_string.
#ifndef STRIPE_ASIO_DETAIL_INLINE_STRING_HPP
#define STRIPE_ASIO_DETAIL_INLINE_STRING_HPP

#include <cstddef>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

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
            heap_.reset();
        } else {
            std::unique_ptr<char[]> longer(new char[s.size()]);
            std::memcpy(longer.get(), s.data(), s.size()); // before our own text can go
            heap_ = std::move(longer);
        }
        size_ = s.size();
    }
    void append(std::string_view s) {
        if (size_ <= N && s.size() <= N - size_) { // still inline (written so no sum can wrap)
            if (!s.empty()) std::memmove(inline_ + size_, s.data(), s.size());
            size_ += s.size();
            return;
        }
        const std::size_t total = size_ + s.size();
        std::unique_ptr<char[]> longer(new char[total]);
        std::memcpy(longer.get(), data(), size_);
        std::memcpy(longer.get() + size_, s.data(), s.size());
        heap_ = std::move(longer);
        size_ = total;
    }
    inline_string& operator+=(std::string_view s) {
        append(s);
        return *this;
    }

    std::string_view view() const noexcept { return std::string_view(data(), size_); }
    operator std::string_view() const noexcept { return view(); }
    std::string str() const { return std::string(view()); }
    bool empty() const noexcept { return view().empty(); }
    std::size_t size() const noexcept { return view().size(); }

    friend bool operator==(const inline_string& a, std::string_view b) noexcept { return a.view() == b; }
    friend std::ostream& operator<<(std::ostream& os, const inline_string& s) { return os << s.view(); }

private:
    const char* data() const noexcept { return size_ <= N ? inline_ : heap_.get(); }

    char inline_[N]{};
    std::size_t size_ = 0;
    std::unique_ptr<char[]> heap_; ///< holds the text when it is longer than N
};

} // namespace stripe_asio::detail

#endif
