// Text kept inline up to N characters and on the heap beyond: a request target such as
// /v1/accounts/acct_1Nv0FGQ9RKHgCVdK/login_links fits, so a call carries it with no allocation.
#ifndef STRIPE_ASIO_DETAIL_SMALL_STRING_HPP
#define STRIPE_ASIO_DETAIL_SMALL_STRING_HPP

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace stripe_asio::detail {

template <std::size_t N>
class small_string {
public:
    small_string() noexcept = default;
    small_string(const small_string&) = delete;
    small_string& operator=(const small_string&) = delete;

    void append(std::string_view s) {
        if (heap_.empty() && size_ + s.size() <= N) {
            if (!s.empty()) std::memcpy(inline_ + size_, s.data(), s.size());
            size_ += s.size();
            return;
        }
        if (heap_.empty()) heap_.assign(inline_, size_);
        heap_.append(s);
    }
    small_string& operator+=(std::string_view s) {
        append(s);
        return *this;
    }
    std::string_view view() const noexcept { return heap_.empty() ? std::string_view(inline_, size_) : heap_; }

private:
    char inline_[N];
    std::size_t size_ = 0;
    std::string heap_;
};

} // namespace stripe_asio::detail

#endif
