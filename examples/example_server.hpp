// Shared by the examples: the real Stripe when STRIPE_API_KEY is set, else an embedded fake one.
#ifndef STRIPE_ASIO_EXAMPLE_SERVER_HPP
#define STRIPE_ASIO_EXAMPLE_SERVER_HPP

#include <stripe_asio/config.hpp>
#include <stripe_asio/testing/fake_stripe.hpp>

#include <cstdlib>
#include <memory>

struct example_server {
    std::unique_ptr<stripe_asio::testing::fake_stripe> fake;
    stripe_asio::config config;

    example_server() {
        if (std::getenv("STRIPE_API_KEY")) {
            config = stripe_asio::config::from_env();
            return;
        }
        fake = std::make_unique<stripe_asio::testing::fake_stripe>();
        config.api_key = fake->api_key();
        config.base_url = fake->base_url();
        config.ca_pem = fake->ca_pem();
        // The fake server keeps no rate limits, and the thread-pool example's 1,000 links would
        // take 40 s at a test key's 25 a second. Against Stripe the budgets stay on (above).
        config.rate_budget.enabled = false;
    }
};

#endif
