// Include once, in one translation unit, built with STRIPE_ASIO_SEPARATE_COMPILATION defined,
// to compile the library's definitions there (src/stripe_asio.cpp does this).
#ifndef STRIPE_ASIO_SRC_HPP
#define STRIPE_ASIO_SRC_HPP

#ifndef STRIPE_ASIO_SEPARATE_COMPILATION
#error "src.hpp is for separate compilation: define STRIPE_ASIO_SEPARATE_COMPILATION"
#endif

#include <stripe_asio/impl/client.ipp>
#include <stripe_asio/impl/config.ipp>
#include <stripe_asio/impl/diagnostics.ipp>
#include <stripe_asio/impl/error.ipp>
#include <stripe_asio/impl/response_parsing.ipp>

#endif
