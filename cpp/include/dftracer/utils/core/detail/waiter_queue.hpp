// WaiterQueue: the FIFO of suspended coroutines behind the async primitives
// (Channel, AsyncSemaphore, AsyncMutex), and the one rule for waking them.
//
// A Waiter is a node that lives inside the awaiter, so inside the suspended
// coroutine's frame: queueing never allocates. The queue is not thread-safe;
// the primitive that owns it guards it with its mutex.
//
// The wake-up rule (docs/cpp-primitives.md): a waiter popped under the lock
// is collected in a WakeList and woken only after the lock is released, by
// scheduling it on the executor it suspended on. It is never resumed inline
// on the waker's stack, so a chain of hand-offs cannot grow the stack, and a
// waker holding locks of its own cannot deadlock with the woken coroutine.
// Only a coroutine that suspended off every pool (no executor to go back to)
// is resumed inline, on the waking thread, still after the lock is released.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>

#include "dftracer/utils/core/detail/work_item.hpp"
#include "dftracer/utils/core/executor.hpp"

namespace dftracer::utils::detail {

struct Waiter {
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  std::coroutine_handle<> handle;
  Executor* resume_on = nullptr;  // Executor::current() when it suspended
  // True from push_back until a pop/remove takes it out; written and read
  // under the owner's lock, except after the wake-up (ordered by it).
  bool queued = false;

  // Fills in who to resume; called in await_suspend, before queueing.
  void prepare(std::coroutine_handle<> h) noexcept {
    handle = h;
    resume_on = Executor::current();
  }
};

class WaiterQueue {
 public:
  WaiterQueue() noexcept = default;
  WaiterQueue(const WaiterQueue&) = delete;
  WaiterQueue& operator=(const WaiterQueue&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }

  void push_back(Waiter& w) noexcept {
    assert(!w.queued && "a waiter is queued at most once");
    w.prev = tail_;
    w.next = nullptr;
    if (tail_) {
      tail_->next = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
    w.queued = true;
    ++size_;
  }

  Waiter* pop_front() noexcept {
    Waiter* w = head_;
    if (w) remove(*w);
    return w;
  }

  // Unlinks a queued waiter (an awaiter destroyed while still suspended).
  void remove(Waiter& w) noexcept {
    assert(w.queued);
    if (w.prev) {
      w.prev->next = w.next;
    } else {
      head_ = w.next;
    }
    if (w.next) {
      w.next->prev = w.prev;
    } else {
      tail_ = w.prev;
    }
    w.prev = w.next = nullptr;
    w.queued = false;
    --size_;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Waiters taken off a queue under the lock, woken by wake_all() once the
// lock is released (declare the list before the lock guard, or call
// wake_all after the guarded block). Chained through Waiter::next, so it
// never allocates.
class WakeList {
 public:
  WakeList() noexcept = default;
  WakeList(const WakeList&) = delete;
  WakeList& operator=(const WakeList&) = delete;
  ~WakeList() { wake_all(); }

  // `w` must already be off its queue, with its result written.
  void add(Waiter* w) noexcept {
    w->next = nullptr;
    if (tail_) {
      tail_->next = w;
    } else {
      head_ = w;
    }
    tail_ = w;
  }

  void wake_all() noexcept {
    Waiter* w = head_;
    head_ = tail_ = nullptr;
    while (w) {
      // Read everything first: once woken, the frame holding `w` may run
      // (and be freed) on another thread at once.
      Waiter* next = w->next;
      std::coroutine_handle<> h = w->handle;
      Executor* ex = w->resume_on;
      if (ex) {
        // From a worker of `ex`: its own deque (LIFO, so the woken coroutine
        // runs next there unless stolen); from elsewhere: the injection queue.
        ex->schedule(WorkItem::coroutine(h));
      } else {
        h.resume();
      }
      w = next;
    }
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace dftracer::utils::detail
