// The public face of the fake Stripe server (include/stripe_asio/testing/fake_stripe.hpp): it
// starts and stops the server (fake_stripe/server.hpp) and reads its state for tests.
#include <stripe_asio/testing/fake_stripe.hpp>

#include "fake_stripe/server.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core/string.hpp>

#include <future>

#include <unistd.h>

namespace stripe_asio::testing {

std::string received_request::header(const std::string& name) const {
    for (const auto& [n, v] : headers)
        if (boost::beast::iequals(n, name)) return v;
    return {};
}

fake_stripe::fake_stripe() : fake_stripe(options{}) {}

fake_stripe::fake_stripe(options opts) : impl_(std::make_unique<impl>(std::move(opts))) { impl_->start(); }

fake_stripe::~fake_stripe() {
    stop();
    if (!impl_->ca_file.empty()) ::unlink(impl_->ca_file.c_str());
}

void fake_stripe::stop() {
    std::lock_guard lock(impl_->lifecycle);
    if (impl_->stopped) return;
    impl_->stopped = true;
    boost::asio::post(impl_->ioc, [s = impl_.get()] { s->shutdown(); });
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::string fake_stripe::base_url() const { return impl_->base_url; }
unsigned short fake_stripe::port() const { return impl_->port; }
const std::string& fake_stripe::api_key() const { return impl_->opts.api_key; }
const std::string& fake_stripe::ca_pem() const { return impl_->ca_pem; }
const std::string& fake_stripe::ca_file() const { return impl_->ca_file; }

void fake_stripe::script(std::vector<fault> faults) { impl_->stripe->script().append(std::move(faults)); }

void fake_stripe::push(fault f) { impl_->stripe->script().push(std::move(f)); }

std::vector<received_request> fake_stripe::requests() const {
    std::lock_guard lock(impl_->recorded_mutex);
    return impl_->recorded;
}

std::size_t fake_stripe::request_count() const { return impl_->stripe->login_calls(); }
std::uint64_t fake_stripe::connections_accepted() const { return impl_->accepted.load(); }
std::size_t fake_stripe::connections_open() const { return impl_->open.load(); }
std::size_t fake_stripe::max_connections_open() const { return impl_->peak.load(); }

void fake_stripe::close_idle_connections() {
    std::lock_guard lock(impl_->lifecycle);
    if (impl_->stopped) return;
    // Synchronous, so that the caller's next request finds the connections already closed.
    std::promise<void> done;
    auto closed = done.get_future();
    boost::asio::post(impl_->ioc, [&] {
        impl_->close_idle();
        done.set_value();
    });
    closed.wait();
    // A connection that was still finishing its answer closes once idle: wait for that too, so
    // a client that has read the answer never finds the connection open (bounded, in case a
    // client keeps it busy).
    impl& s = *impl_;
    s.settle_watchers.fetch_add(1);
    {
        std::unique_lock wait_lock(s.settle_mutex);
        s.settle_cv.wait_for(wait_lock, std::chrono::seconds(10), [&] { return s.closing_at_idle.load() == 0; });
    }
    s.settle_watchers.fetch_sub(1);
}

std::optional<std::string> fake_stripe::link_for_key(std::string_view key) const {
    return impl_->stripe->idempotency().link_for_key(key);
}

key_deliveries fake_stripe::deliveries_for_key(std::string_view key) const {
    return impl_->stripe->idempotency().deliveries_for_key(key);
}

std::size_t fake_stripe::delivered_for_key(std::string_view key) const { return deliveries_for_key(key).total(); }

std::size_t fake_stripe::keys_with_delivered_link() const {
    return impl_->stripe->idempotency().keys_with_delivered_link();
}

std::uint64_t fake_stripe::intact_answers_delivered() const {
    return impl_->stripe->idempotency().intact_answers_delivered();
}

key_deliveries fake_stripe::forget_key(std::string_view key) { return impl_->stripe->idempotency().forget_key(key); }

std::size_t fake_stripe::idempotency_keys_remembered() const { return impl_->stripe->idempotency().size(); }

std::uint64_t fake_stripe::random_faults_injected(random_fault_kind k) const {
    return impl_->stripe->random().injected(k);
}

std::uint64_t fake_stripe::random_faults_injected() const { return impl_->stripe->random().injected(); }

std::uint64_t fake_stripe::scripted_faults_injected() const { return impl_->stripe->script().injected(); }

std::vector<std::uint64_t> fake_stripe::admitted_per_second() const {
    return impl_->stripe->limits().admitted_per_second();
}

std::uint64_t fake_stripe::rate_limited_answers() const { return impl_->stripe->limits().refused(); }
std::uint64_t fake_stripe::hangs_outlived() const { return impl_->hangs_expired.load(); }

bool fake_stripe::wait_until_settled(std::size_t n, std::chrono::milliseconds timeout) const {
    impl& s = *impl_;
    auto settled = [&] { return s.open.load() == n && s.waiting_now.load() == n; };
    s.settle_watchers.fetch_add(1);
    bool ok;
    {
        std::unique_lock lock(s.settle_mutex);
        ok = s.settle_cv.wait_for(lock, timeout, settled);
    }
    s.settle_watchers.fetch_sub(1);
    return ok;
}

void fake_stripe::reset_counters() {
    {
        std::lock_guard lock(impl_->recorded_mutex);
        impl_->recorded.clear();
    }
    impl_->stripe->reset_login_calls();
    impl_->peak.store(impl_->open.load());
}

} // namespace stripe_asio::testing
