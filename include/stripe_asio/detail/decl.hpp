// Header-only by default; with STRIPE_ASIO_SEPARATE_COMPILATION the definitions in impl/*.ipp are
// compiled once, in src/stripe_asio.cpp, and the headers only declare them.
#ifndef STRIPE_ASIO_DETAIL_DECL_HPP
#define STRIPE_ASIO_DETAIL_DECL_HPP

#ifdef STRIPE_ASIO_SEPARATE_COMPILATION
#define STRIPE_ASIO_DECL
#else
#define STRIPE_ASIO_DECL inline
#define STRIPE_ASIO_HEADER_ONLY 1
#endif

#endif
