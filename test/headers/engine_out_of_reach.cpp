// With the compiled library, a user's translation unit takes no engine header: a call's state,
// its machine, the pool and the rooms of impl/internal/ stay inside the library (see
// docs/architecture.md, "Rooms"). This file fails to compile if one of them leaks in.
#include <stripe_asio/stripe_asio.hpp>

#if defined(STRIPE_ASIO_IMPL_CLIENT_IPP) || defined(STRIPE_ASIO_IMPL_INTERNAL_CALL_STATE_HPP) ||                       \
    defined(STRIPE_ASIO_IMPL_INTERNAL_CLIENT_STATE_HPP) || defined(STRIPE_ASIO_DETAIL_CALL_MACHINE_HPP) ||             \
    defined(STRIPE_ASIO_DETAIL_POOL_STATE_HPP) || defined(STRIPE_ASIO_DETAIL_INTRUSIVE_LIST_HPP) ||                    \
    defined(STRIPE_ASIO_DETAIL_RESPONSE_READER_HPP) || defined(STRIPE_ASIO_IMPL_INTERNAL_BYTE_STREAM_HPP) ||           \
    defined(STRIPE_ASIO_IMPL_INTERNAL_ENGINE_CLOCK_HPP) || defined(STRIPE_ASIO_IMPL_INTERNAL_TLS_STREAM_HPP)
#error "an engine header reached a user's translation unit"
#endif
