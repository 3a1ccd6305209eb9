#ifndef STRIPE_ASIO_CLIENT_HPP
#define STRIPE_ASIO_CLIENT_HPP

#include <stripe_asio/client_stats.hpp>
#include <stripe_asio/config.hpp>
#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/fixed_string.hpp>
#include <stripe_asio/inline_string.hpp>
#include <stripe_asio/json_response.hpp>
#include <stripe_asio/login_link.hpp>
#include <stripe_asio/request_options.hpp>
#include <stripe_asio/with_diagnostics.hpp>

#include <stripe_asio/detail/call_op.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace stripe_asio {

/// HTTP methods the generic `client::request` supports.
enum class http_method { get, post, delete_ };

/// Form parameters of a generic request, already in Stripe's bracket notation (`metadata[key]`).
using form_params = std::vector<std::pair<std::string, std::string>>;

namespace detail {
class client_impl;
/// The account id as the call keeps it (a deferred operation may run after the caller's
/// string is gone): inline when it has the usual length.
using account_id_arg = inline_string<32>;

STRIPE_ASIO_DECL std::shared_ptr<client_impl> make_client_impl(boost::asio::any_io_executor ex, config cfg);
STRIPE_ASIO_DECL void shutdown_client(const std::shared_ptr<client_impl>& impl);
STRIPE_ASIO_DECL client_stats read_stats(const client_impl& impl);
STRIPE_ASIO_DECL error_code parse_login_link(std::string_view body, login_link& out, std::string& why);
STRIPE_ASIO_DECL error_code parse_json_object(std::string_view body, json_response& out, std::string& why);
/// Fill in what `call` sends and start it on the client's executor.
/// `options` null: the client's config for everything.
STRIPE_ASIO_DECL void start_login_link(call_state& call, const account_id_arg& account, const request_options* options);
STRIPE_ASIO_DECL void start_request(call_state& call, http_method method, std::string path, form_params params,
                                    const request_options* options);
} // namespace detail

/// A Stripe API client: a pool of keep-alive TLS connections, retries with idempotency keys,
/// deadlines and per-operation cancellation.
///
/// Thread safety: with `config::thread_safe` (the default) one client may be used from any
/// number of threads at once. Handlers run on their associated executor, or on the client's
/// executor when they have none.
///
/// Lifetime: destroying the client completes every call in flight with errc::client_shut_down
/// and closes its connections. Destroy it before its execution context.
class client {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Throws error_with_diagnostics when `cfg` is not valid (see config::validate).
    client(executor_type ex, config cfg) : impl_(detail::make_client_impl(std::move(ex), std::move(cfg))) {}
    client(boost::asio::io_context& ctx, config cfg) : client(ctx.get_executor(), std::move(cfg)) {}
    ~client() {
        if (impl_) detail::shutdown_client(impl_);
    }
    client(client&&) noexcept = default;
    client& operator=(client&& other) noexcept {
        if (this != &other) {
            if (impl_) detail::shutdown_client(impl_);
            impl_ = std::move(other.impl_);
        }
        return *this;
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// The executor given at construction; handlers without one of their own run there.
    executor_type get_executor() const noexcept { return detail::user_executor(*impl_); }

    /// POST /v1/accounts/{account_id}/login_links.
    ///
    /// Completion signature: void(error_code, diagnostics, login_link). The default token
    /// throws error_with_diagnostics on failure and returns the login_link.
    /// Cancellation: terminal and partial (both end the call with operation_aborted; a request
    /// already written may have reached Stripe, and its idempotency key is in the diagnostics).
    /// Total cancellation is not supported: a POST on the wire cannot be undone.
    template <class CompletionToken = default_completion_token>
    auto create_login_link(std::string_view account_id, const request_options& options, CompletionToken&& token = {}) {
        // Ids are at most 255 characters: 256 keep an oversized one recognisably invalid.
        return boost::asio::async_initiate<CompletionToken, void(error_code, diagnostics, login_link)>(
            initiate_login_link{impl_}, token, detail::account_id_arg(account_id.substr(0, 256)), options);
    }

    /// The same with the client's config for every option. The options are not carried at all,
    /// which keeps a deferred or awaitable operation small.
    template <class CompletionToken = default_completion_token>
    requires(!std::is_convertible_v<CompletionToken, request_options>) auto create_login_link(
        std::string_view account_id, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, diagnostics, login_link)>(
            initiate_login_link{impl_}, token, detail::account_id_arg(account_id.substr(0, 256)));
    }

    /// Any Stripe endpoint: `path` such as "/v1/account_links"; params are sent as a form body
    /// (POST) or query string (GET, DELETE). Same pool, retries, keys and errors as
    /// create_login_link. Completion signature: void(error_code, diagnostics, json_response).
    template <class CompletionToken = default_completion_token>
    auto request(http_method method, std::string path, form_params params, const request_options& options,
                 CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, diagnostics, json_response)>(
            initiate_request{impl_}, token, method, std::move(path), std::move(params), options);
    }

    /// Counters since the client was made. Safe from any thread.
    client_stats stats() const { return detail::read_stats(*impl_); }

private:
    struct initiate_login_link {
        std::shared_ptr<detail::client_impl> impl;
        template <class Handler>
        void operator()(Handler&& handler, const detail::account_id_arg& account,
                        const request_options* options = nullptr) {
            auto& call = detail::call_op<login_link, std::decay_t<Handler>>::create(std::forward<Handler>(handler),
                                                                                    impl, &detail::parse_login_link);
            detail::start_login_link(call, account, options);
        }
        template <class Handler>
        void operator()(Handler&& handler, const detail::account_id_arg& account, const request_options& options) {
            (*this)(std::forward<Handler>(handler), account, &options);
        }
    };
    struct initiate_request {
        std::shared_ptr<detail::client_impl> impl;
        template <class Handler>
        void operator()(Handler&& handler, http_method method, std::string path, form_params params,
                        const request_options& options) {
            auto& call = detail::call_op<json_response, std::decay_t<Handler>>::create(
                std::forward<Handler>(handler), impl, &detail::parse_json_object);
            detail::start_request(call, method, std::move(path), std::move(params), &options);
        }
    };

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace stripe_asio

#ifdef STRIPE_ASIO_FIX_AWAITABLE_OP_HANDLER
STRIPE_ASIO_FIX_AWAITABLE_OP_HANDLER(stripe_asio::login_link);
STRIPE_ASIO_FIX_AWAITABLE_OP_HANDLER(stripe_asio::json_response);
#endif

#ifdef STRIPE_ASIO_HEADER_ONLY
#include <stripe_asio/impl/client.ipp>
#endif

#endif
