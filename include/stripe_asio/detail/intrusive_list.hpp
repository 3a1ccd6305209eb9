// The one intrusive list the engine uses (Boost.Intrusive): a call is linked into the pool's
// queue of waiters, the client's calls and the client's attempts in progress by hooks inside it,
// so none of those lists allocates. Safe-mode hooks know whether they are linked, and a debug
// build asserts if a node is destroyed while still in a list.
#ifndef STRIPE_ASIO_DETAIL_INTRUSIVE_LIST_HPP
#define STRIPE_ASIO_DETAIL_INTRUSIVE_LIST_HPP

#include <boost/intrusive/list.hpp>

namespace stripe_asio::detail {

/// A node's link into the lists named by `Tag`; `is_linked()` tells whether it is in one.
template <class Tag>
using list_hook = boost::intrusive::list_base_hook<boost::intrusive::tag<Tag>,
                                                   boost::intrusive::link_mode<boost::intrusive::safe_link>>;

/// Doubly linked, O(1) insertion and removal of a known node; size() counted.
template <class T, class Tag>
using intrusive_list = boost::intrusive::list<T, boost::intrusive::base_hook<list_hook<Tag>>>;

/// Takes `node` out of `list` if it is in it.
template <class T, class Tag>
void unlink_from(intrusive_list<T, Tag>& list, T& node) noexcept {
    if (static_cast<list_hook<Tag>&>(node).is_linked()) list.erase(list.iterator_to(node));
}

} // namespace stripe_asio::detail

#endif
