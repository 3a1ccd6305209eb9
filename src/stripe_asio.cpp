// The compiled form of stripe-asio (target stripe_asio::compiled).
#include <stripe_asio/src.hpp>
