// Channel<T>: a bounded, multi-producer multi-consumer async channel.
//
//   Channel<int> ch(16);
//   bool sent = co_await ch.send(42);               // suspends while full
//   std::optional<int> v = co_await ch.recv();      // suspends while empty
//   ch.close();                                      // wakes every waiter
//
// A buffer of `capacity` slots (>= 1) guarded by one mutex, plus two FIFO
// queues of suspended senders and receivers (waiter_queue.hpp). Hand-offs
// skip the buffer where they can: a send to a waiting receiver gives the
// value straight to it, and a receive from a full buffer pulls the oldest
// waiting sender's value in behind it, so values leave in the order their
// sends were accepted and waiters are served first come, first served.
//
// Wake-ups never resume a coroutine inline: a woken sender or receiver is
// scheduled on the executor it suspended on, after the lock is released
// (see waiter_queue.hpp), so a ping-pong between two coroutines runs on one
// worker without growing its stack, and no thread holds the lock while user
// code runs.
//
// Closing: close() is idempotent. Afterwards send() fails (yields false, the
// value is dropped), receivers first drain what is buffered and then get
// std::nullopt. Every suspended waiter is woken by close(): senders with
// false, receivers with std::nullopt. The destructor closes too, so no
// coroutine is left suspended on a dead channel; such a woken coroutine must
// not touch the channel again.
//
// T must be nothrow move constructible: values move under the lock, and a
// throwing move there could lose a value or leave a waiter half served.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/detail/waiter_queue.hpp"

namespace dftracer::utils {

// Result of the non-blocking calls.
enum class ChannelStatus {
  ok,      // done: the value was sent / received
  full,    // try_send: no room and no waiting receiver; the value is untouched
  empty,   // try_recv: nothing buffered yet, not closed
  closed,  // try_send: closed, value untouched; try_recv: closed and drained
};

template <class T>
class Channel {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "Channel<T> needs a nothrow move constructible T (values move under the channel's lock)");

  // Waiter nodes, one per awaiter (so inside the waiting coroutine's frame).
  struct SendNode : detail::Waiter {
    T* value = nullptr;  // the suspended sender's value (in its awaiter)
    bool sent = false;
  };
  struct RecvNode : detail::Waiter {
    std::optional<T> slot;
  };

 public:
  using value_type = T;

  explicit Channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("Channel capacity must be at least 1");
    slots_ = std::make_unique<std::optional<T>[]>(capacity);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  // Closes the channel: every waiter is woken (see the top of this file).
  ~Channel() { close(); }

  class [[nodiscard]] SendAwaiter {
   public:
    SendAwaiter(Channel& ch, T value) noexcept : ch_(ch), value_(std::move(value)) {}
    SendAwaiter(const SendAwaiter&) = delete;
    SendAwaiter& operator=(const SendAwaiter&) = delete;
    ~SendAwaiter() {
      if (node_.queued) ch_.forget(node_, ch_.senders_);
    }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      detail::WakeList wake;
      std::lock_guard lock(ch_.mu_);
      if (ch_.closed_) {
        node_.sent = false;
        return false;
      }
      if (auto* r = static_cast<RecvNode*>(ch_.receivers_.pop_front())) {
        // A receiver waits, so the buffer is empty: hand the value over.
        r->slot.emplace(std::move(value_));
        wake.add(r);
        node_.sent = true;
        return false;  // `wake` runs after the lock guard is gone
      }
      if (ch_.count_ < ch_.capacity_) {
        ch_.push(std::move(value_));
        node_.sent = true;
        return false;
      }
      node_.value = &value_;
      node_.prepare(h);
      ch_.senders_.push_back(node_);
      // Suspended from here on: a receiver may take our value and wake us
      // as soon as the lock is released; nothing below touches *this.
      return true;
    }
    // True when the value was accepted; false when the channel was (or got)
    // closed first, the value then dropped.
    bool await_resume() const noexcept { return node_.sent; }

   private:
    Channel& ch_;
    T value_;
    SendNode node_;
  };

  class [[nodiscard]] RecvAwaiter {
   public:
    explicit RecvAwaiter(Channel& ch) noexcept : ch_(ch) {}
    RecvAwaiter(const RecvAwaiter&) = delete;
    RecvAwaiter& operator=(const RecvAwaiter&) = delete;
    ~RecvAwaiter() {
      if (node_.queued) ch_.forget(node_, ch_.receivers_);
    }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      detail::WakeList wake;
      std::lock_guard lock(ch_.mu_);
      if (ch_.count_ > 0) {
        node_.slot.emplace(ch_.pop(wake));
        return false;
      }
      if (ch_.closed_) return false;  // closed and drained: nullopt
      node_.prepare(h);
      ch_.receivers_.push_back(node_);
      return true;  // suspended: see SendAwaiter::await_suspend
    }
    // The next value, or std::nullopt once the channel is closed and drained.
    std::optional<T> await_resume() noexcept { return std::move(node_.slot); }

   private:
    Channel& ch_;
    RecvNode node_;
  };

  // `co_await send(v)` yields true once `v` is in the channel (buffered or
  // handed to a receiver), false if the channel is closed first.
  SendAwaiter send(T value) noexcept { return SendAwaiter(*this, std::move(value)); }
  // `co_await recv()` yields the oldest value, or std::nullopt once the
  // channel is closed and everything sent before close() was received.
  RecvAwaiter recv() noexcept { return RecvAwaiter(*this); }

  // Never suspends. The value moves into the channel only when it is
  // accepted (ok); on full or closed the argument is left untouched.
  ChannelStatus try_send(T&& value) noexcept { return try_send_from(value); }
  // Copies first (outside the lock: a throwing copy changes nothing).
  ChannelStatus try_send(const T& value) {
    T copy(value);
    return try_send_from(copy);
  }

  // Never suspends: ok with the value in `out`, empty, or closed (closed and
  // drained: nothing will ever come).
  ChannelStatus try_recv(std::optional<T>& out) {
    detail::WakeList wake;
    std::lock_guard lock(mu_);
    if (count_ > 0) {
      out.emplace(pop(wake));
      return ChannelStatus::ok;
    }
    return closed_ ? ChannelStatus::closed : ChannelStatus::empty;
  }
  // Shorthand: the value, or std::nullopt when empty or closed and drained.
  std::optional<T> try_recv() {
    std::optional<T> out;
    try_recv(out);
    return out;
  }

  // Refuses further sends and wakes every waiter. Idempotent.
  void close() noexcept {
    detail::WakeList wake;
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    // Receivers wait only while the buffer is empty: they get nullopt.
    while (detail::Waiter* r = receivers_.pop_front()) wake.add(r);
    // Senders wait only while it is full: their values are not taken.
    while (auto* s = static_cast<SendNode*>(senders_.pop_front())) {
      s->sent = false;
      wake.add(s);
    }
  }

  bool is_closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  // Values buffered now (a snapshot).
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::size_t capacity() const noexcept { return capacity_; }
  // Coroutines suspended in send() / recv() now (snapshots).
  std::size_t senders_waiting() const {
    std::lock_guard lock(mu_);
    return senders_.size();
  }
  std::size_t receivers_waiting() const {
    std::lock_guard lock(mu_);
    return receivers_.size();
  }

 private:
  // try_send's core: moves from `value` only when it is accepted.
  ChannelStatus try_send_from(T& value) noexcept {
    detail::WakeList wake;
    std::lock_guard lock(mu_);
    if (closed_) return ChannelStatus::closed;
    if (auto* r = static_cast<RecvNode*>(receivers_.pop_front())) {
      r->slot.emplace(std::move(value));
      wake.add(r);
      return ChannelStatus::ok;
    }
    if (count_ == capacity_) return ChannelStatus::full;
    push(std::move(value));
    return ChannelStatus::ok;
  }

  // Caller holds mu_ and has checked count_ < capacity_.
  void push(T&& v) noexcept {
    std::size_t tail = head_ + count_;
    if (tail >= capacity_) tail -= capacity_;
    slots_[tail].emplace(std::move(v));
    ++count_;
  }

  // Caller holds mu_ and has checked count_ > 0. Takes the oldest value and,
  // when a sender waits (the buffer was full), moves its value in behind.
  T pop(detail::WakeList& wake) noexcept {
    std::optional<T>& slot = slots_[head_];
    T v = std::move(*slot);
    slot.reset();
    if (++head_ == capacity_) head_ = 0;
    --count_;
    if (auto* s = static_cast<SendNode*>(senders_.pop_front())) {
      push(std::move(*s->value));
      s->sent = true;
      wake.add(s);
    }
    return v;
  }

  // An awaiter being destroyed while still queued (its coroutine was
  // destroyed while suspended): unlink it. Its caller's unlocked read of
  // `queued` is ordered for every awaiter that was woken (the waker cleared
  // it under the lock before scheduling the coroutine), so a woken awaiter
  // never gets here, and never touches a channel that may be gone.
  void forget(detail::Waiter& node, detail::WaiterQueue& queue) noexcept {
    if (!node.queued) return;
    std::lock_guard lock(mu_);
    if (node.queued) queue.remove(node);
  }

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unique_ptr<std::optional<T>[]> slots_;  // ring buffer of capacity_ slots
  std::size_t head_ = 0;                       // oldest value
  std::size_t count_ = 0;                      // values buffered
  bool closed_ = false;
  detail::WaiterQueue senders_;    // suspended while full, oldest first
  detail::WaiterQueue receivers_;  // suspended while empty, oldest first
};

}  // namespace dftracer::utils
