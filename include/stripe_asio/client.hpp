#ifndef STRIPE_ASIO_CLIENT_HPP
#define STRIPE_ASIO_CLIENT_HPP

#include <stripe_asio/client_stats.hpp>
#include <stripe_asio/config.hpp>
#include <stripe_asio/detail/decl.hpp>
#include <stripe_asio/diagnostics.hpp>
#include <stripe_asio/error.hpp>
#include <stripe_asio/fixed_string.hpp>
#include <stripe_asio/detail/inline_string.hpp>
#include <stripe_asio/json_response.hpp>
#include <stripe_asio/login_link.hpp>
#include <stripe_asio/request_options.hpp>
#include <stripe_asio/with_diagnostics.hpp>

#include <stripe_asio/detail/call_op.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

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
struct client_access;
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

/// Tokens of the overload without options: anything a request_options cannot be made from.
template <class Token>
concept not_request_options = !std::is_convertible_v<Token, request_options>;

/// A call on a moved-from client: client_shut_down, posted to the handler's own executor.
template <class Result, class Handler>
void complete_moved_from(Handler&& handler) {
    diagnostics diag;
    diag.detail = "the client was moved from";
    auto ex = boost::asio::get_associated_executor(handler);
    boost::asio::post(ex, boost::asio::append(std::forward<Handler>(handler), error_code(errc::client_shut_down),
                                              std::move(diag), Result{}));
}
} // namespace detail

/// A Stripe API client: a pool of keep-alive TLS connections, retries with idempotency keys,
/// deadlines and per-operation cancellation.
///
/// Every asynchronous operation below follows the same rules:
/// - **Handler**: `void(error_code, diagnostics, Result)`. On success the error code is clear and
///   the diagnostics empty; on failure `Result` is default-made and the diagnostics say why
///   (Stripe's fields, Request-Id, attempts; never the API key). The default token
///   (`with_diagnostics(deferred)`) makes `co_await` return `Result` or throw
///   `error_with_diagnostics`.
/// - **Executor**: the handler runs on its associated executor, or on the client's executor when
///   it has none; never inside the initiating function (a call refused at once is posted).
/// - **Cancellation**: terminal and partial, through the handler's associated cancellation slot;
///   both end the call with `operation_aborted`, once. A request already written may have reached
///   Stripe: its idempotency key is in the diagnostics, so the caller can retry it safely. Total
///   cancellation is not supported (a POST on the wire cannot be undone).
/// - **Lifetimes**: the arguments are copied before the initiating function returns (a deferred
///   operation holds its own copies); nothing the caller passed need outlive the call. The client
///   must outlive the initiating call, not the operation: destroying the client completes every
///   call in flight with `client_shut_down`.
/// - **Thread safety**: with `config::thread_safe` (the default) any thread may start calls on one
///   client at once; with `thread_safe = false` only the thread(s) of one implicit strand may.
///
/// Destroy the client before its execution context. A moved-from client is not `valid()`: its
/// calls complete with `client_shut_down` (on the handler's associated executor, the system
/// executor for a handler without one), `stats()` is all zeros and `get_executor()` is empty.
class client {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Throws error_with_diagnostics when `cfg` is not valid (see config::validate). `ex`
    /// carries the client's sockets and timers, and runs handlers that have no executor.
    client(executor_type ex, config cfg) : impl_(detail::make_client_impl(std::move(ex), std::move(cfg))) {}
    client(boost::asio::io_context& ctx, config cfg) : client(ctx.get_executor(), std::move(cfg)) {}
    /// Completes every call in flight with client_shut_down and closes the connections.
    ~client() {
        if (impl_) detail::shutdown_client(impl_);
    }
    /// Leaves `other` not valid(); its calls in flight carry on, now this client's.
    client(client&&) noexcept = default;
    /// Shuts this client down first (as its destructor does), then takes `other`'s state.
    client& operator=(client&& other) noexcept {
        if (this != &other) {
            if (impl_) detail::shutdown_client(impl_);
            impl_ = std::move(other.impl_);
        }
        return *this;
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// False only for a moved-from client.
    bool valid() const noexcept { return impl_ != nullptr; }

    /// The executor given at construction (empty when not valid()).
    executor_type get_executor() const noexcept { return impl_ ? detail::user_executor(*impl_) : executor_type(); }

    /// POST /v1/accounts/{account_id}/login_links: a single-use Express Dashboard link.
    ///
    /// Handler: `void(error_code, diagnostics, login_link)`. Errors: `invalid_account_id` and
    /// `invalid_idempotency_key` / `invalid_request_options` before anything is sent; Stripe's
    /// answers as their `errc` (authentication, rate_limit, ...); transport and time limits
    /// (connection_error, tls_verification_failed, attempt_timeout, deadline_exceeded,
    /// too_many_pending); `malformed_response` for an answer that is not a login link with an
    /// https url. Retries follow the SDKs' rules with one idempotency key for every attempt.
    template <class CompletionToken = default_completion_token>
    auto create_login_link(std::string_view account_id, const request_options& options, CompletionToken&& token = {}) {
        // Ids are at most 255 characters: 256 keep an oversized one recognisably invalid.
        return boost::asio::async_initiate<CompletionToken, void(error_code, diagnostics, login_link)>(
            initiate_login_link{impl_}, token, detail::account_id_arg(account_id.substr(0, 256)), options);
    }

    /// The same with the client's config for every option. The options are not carried at all,
    /// which keeps a deferred or awaitable operation small.
    template <detail::not_request_options CompletionToken = default_completion_token>
    auto create_login_link(std::string_view account_id, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, diagnostics, login_link)>(
            initiate_login_link{impl_}, token, detail::account_id_arg(account_id.substr(0, 256)));
    }

    /// Any Stripe endpoint: `path` such as "/v1/account_links" (letters, digits and / - . _ ~
    /// only); params are sent as a form body (POST) or query string (GET, DELETE), in order, in
    /// Stripe's bracket notation (`expand[0]`, `metadata[k]`). GET and DELETE send no idempotency
    /// key. Same pool, retries, keys and errors as create_login_link, with `invalid_request_options`
    /// for a bad path and `malformed_response` for a 2xx body that is not a JSON object.
    /// Handler: `void(error_code, diagnostics, json_response)`.
    template <class CompletionToken = default_completion_token>
    auto request(http_method method, std::string path, form_params params, const request_options& options,
                 CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, diagnostics, json_response)>(
            initiate_request{impl_}, token, method, std::move(path), std::move(params), options);
    }

    /// Counters since the client was made (all zero when not valid()). Safe from any thread.
    client_stats stats() const { return impl_ ? detail::read_stats(*impl_) : client_stats{}; }

private:
    struct initiate_login_link {
        std::shared_ptr<detail::client_impl> impl;
        template <class Handler>
        void operator()(Handler&& handler, const detail::account_id_arg& account,
                        const request_options* options = nullptr) {
            if (!impl) return detail::complete_moved_from<login_link>(std::forward<Handler>(handler));
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
            if (!impl) return detail::complete_moved_from<json_response>(std::forward<Handler>(handler));
            auto& call = detail::call_op<json_response, std::decay_t<Handler>>::create(
                std::forward<Handler>(handler), impl, &detail::parse_json_object);
            detail::start_request(call, method, std::move(path), std::move(params), &options);
        }
    };

    friend struct detail::client_access; // tests reach the engine through it
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
