// stripe-asio: everything a user needs, in one include.
#ifndef STRIPE_ASIO_HPP
#define STRIPE_ASIO_HPP

#include <stripe_asio/client.hpp>
#include <stripe_asio/client_stats.hpp>
#include <stripe_asio/config.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/error_with_diagnostics.hpp>
#include <stripe_asio/fixed_string.hpp>
#include <stripe_asio/json_response.hpp>
#include <stripe_asio/rate_budget_config.hpp>
#include <stripe_asio/rate_limit_reason.hpp>
#include <stripe_asio/login_link.hpp>
#include <stripe_asio/request_options.hpp>
#include <stripe_asio/response_metadata.hpp>
#include <stripe_asio/retry_config.hpp>
#include <stripe_asio/version.hpp>
#include <stripe_asio/with_diagnostics.hpp>

#endif
