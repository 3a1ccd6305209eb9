// The connection pool's decisions, with no I/O: who gets a connection, who waits, who opens one.
//
// The pool owns `max_connections` slots. A slot holds an open connection, idle or in use, or is
// lent to a caller that is opening one. Callers that find no idle connection and no free slot
// wait, first come first served, up to `max_pending`. Releasing hands the connection (or, when it
// cannot be reused, its slot) straight to the oldest waiter.
#ifndef STRIPE_ASIO_DETAIL_POOL_STATE_HPP
#define STRIPE_ASIO_DETAIL_POOL_STATE_HPP

#include <stripe_asio/detail/intrusive_list.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace stripe_asio::detail {

template <class Connection>
class pool_state {
public:
    struct waiter_tag;
    /// Part of the waiting call itself; linked into the queue while it waits.
    struct waiter : list_hook<waiter_tag> {
        bool queued() const noexcept { return this->is_linked(); }
        bool granted = false; ///< a slot was handed over
        Connection* connection = nullptr; ///< with a reusable connection in it, or null: open one
    };

    enum class acquire_kind {
        reuse, ///< use `connection`, taken from the idle list
        open, ///< a slot is yours: open a new connection in it
        replace, ///< close idle `connection` and open a new one in its slot (fresh wanted)
        wait, ///< enqueue a waiter
        overflow, ///< too many waiters already
    };
    struct acquire_result {
        acquire_kind kind;
        Connection* connection = nullptr;
    };

    pool_state(std::size_t max_connections, std::size_t max_pending) noexcept
        : max_connections_(max_connections), max_pending_(max_pending) {}

    /// `fresh`: the caller must not get a reused connection (after a stale one failed).
    acquire_result acquire(bool fresh = false) {
        if (!fresh && !idle_.empty()) {
            Connection* c = idle_.back(); // most recently used: the warmest, and lets others idle out
            idle_.pop_back();
            return {acquire_kind::reuse, c};
        }
        if (slots_used_ < max_connections_) {
            ++slots_used_;
            return {acquire_kind::open};
        }
        if (fresh && !idle_.empty()) {
            Connection* c = idle_.front(); // the oldest is the likeliest to be stale too
            idle_.erase(idle_.begin());
            return {acquire_kind::replace, c};
        }
        if (queue_.size() >= max_pending_) return {acquire_kind::overflow};
        return {acquire_kind::wait};
    }

    /// Takes a free slot to open a connection in ahead of demand (min_idle); false when none is
    /// free or callers wait (a free slot would go to them).
    bool take_spare_slot() noexcept {
        if (slots_used_ >= max_connections_ || !queue_.empty()) return false;
        ++slots_used_;
        return true;
    }

    void enqueue(waiter& w) noexcept { queue_.push_back(w); }

    /// Takes a waiter out of the queue (cancelled, timed out); a no-op once it was served.
    void remove(waiter& w) noexcept { unlink_from(queue_, w); }

    /// Gives back a slot. `reusable` is the connection in it when it may serve another request,
    /// or null when it was closed (or never opened). Returns the waiter that now owns the slot
    /// (with the connection, if reusable), or null when nobody waits.
    waiter* release(Connection* reusable) noexcept {
        if (!queue_.empty()) {
            waiter* w = &queue_.front();
            queue_.pop_front();
            w->granted = true;
            w->connection = reusable;
            return w;
        }
        if (reusable) {
            idle_.push_back(reusable);
        } else {
            --slots_used_;
        }
        return nullptr;
    }

    /// Drops an idle connection that is being closed (idle timeout, found dead); frees its slot.
    /// Returns the waiter that gets the slot instead, if any.
    waiter* evict_idle(Connection* c) noexcept {
        auto it = std::find(idle_.begin(), idle_.end(), c);
        if (it == idle_.end()) return nullptr;
        idle_.erase(it);
        return release(nullptr);
    }

    waiter* front_waiter() noexcept { return queue_.empty() ? nullptr : &queue_.front(); }
    const std::vector<Connection*>& idle() const noexcept { return idle_; }
    std::size_t slots_used() const noexcept { return slots_used_; }
    std::size_t waiting() const noexcept { return queue_.size(); }
    std::size_t max_connections() const noexcept { return max_connections_; }

private:
    std::size_t max_connections_;
    std::size_t max_pending_;
    std::size_t slots_used_ = 0;
    std::vector<Connection*> idle_;
    intrusive_list<waiter, waiter_tag> queue_; ///< first come, first served
};

} // namespace stripe_asio::detail

#endif
