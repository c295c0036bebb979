// AsyncSemaphore: a counting semaphore for coroutines, with FIFO fairness.
//
//   AsyncSemaphore sem(4);                       // at most 4 at once
//   {
//     SemaphoreGuard permit = co_await sem.acquire_scoped();
//     co_await fetch(url);
//   }                                            // released here
//
// acquire() suspends the coroutine (never the thread) while no permit is
// free. release() hands each permit straight to the oldest waiter, so a
// coroutine that arrives while others wait cannot take a permit before them
// (no barging): the waiter queue is served strictly first come, first
// served. Hence the invariant, checked in debug builds: permits are only
// counted as available while nobody waits.
//
// A woken waiter is scheduled on the executor it suspended on, after the
// lock is released; it is never resumed on the releasing thread's stack (see
// waiter_queue.hpp). release() may be called from any thread, also one off
// the pools, and need not be the thread that acquired.
//
// Destroying a semaphore while coroutines wait on it is a bug (they would
// never be resumed): asserted in debug builds.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <utility>

#include "dftracer/utils/core/detail/waiter_queue.hpp"

namespace dftracer::utils {

class AsyncSemaphore;

// Holds one permit; gives it back when destroyed (or on release()).
class [[nodiscard]] SemaphoreGuard {
 public:
  SemaphoreGuard() noexcept = default;
  // Adopts a permit the caller already holds (from acquire or try_acquire).
  explicit SemaphoreGuard(AsyncSemaphore& sem) noexcept : sem_(&sem) {}
  SemaphoreGuard(SemaphoreGuard&& o) noexcept : sem_(std::exchange(o.sem_, nullptr)) {}
  SemaphoreGuard& operator=(SemaphoreGuard&& o) noexcept {
    if (this != &o) {
      release();
      sem_ = std::exchange(o.sem_, nullptr);
    }
    return *this;
  }
  SemaphoreGuard(const SemaphoreGuard&) = delete;
  SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;
  ~SemaphoreGuard() { release(); }

  bool owns_permit() const noexcept { return sem_ != nullptr; }
  explicit operator bool() const noexcept { return owns_permit(); }
  // Gives the permit back now. No-op for an empty guard.
  inline void release() noexcept;

 private:
  AsyncSemaphore* sem_ = nullptr;
};

class AsyncSemaphore {
 public:
  explicit AsyncSemaphore(std::size_t permits) noexcept : available_(permits) {}
  AsyncSemaphore(const AsyncSemaphore&) = delete;
  AsyncSemaphore& operator=(const AsyncSemaphore&) = delete;
  ~AsyncSemaphore() { assert(waiters_.empty() && "AsyncSemaphore destroyed while coroutines wait on it"); }

  class [[nodiscard]] AcquireAwaiter {
   public:
    explicit AcquireAwaiter(AsyncSemaphore& sem) noexcept : sem_(sem) {}
    AcquireAwaiter(const AcquireAwaiter&) = delete;
    AcquireAwaiter& operator=(const AcquireAwaiter&) = delete;
    ~AcquireAwaiter() {
      // Still queued only if the coroutine was destroyed while suspended
      // (see Channel::forget for why the unlocked read is ordered).
      if (node_.queued) sem_.forget(node_);
    }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      std::lock_guard lock(sem_.mu_);
      if (sem_.available_ > 0) {
        assert(sem_.waiters_.empty());
        --sem_.available_;
        return false;
      }
      node_.prepare(h);
      sem_.waiters_.push_back(node_);
      return true;  // a release() may wake us once the lock is released
    }
    void await_resume() const noexcept {}

   protected:
    AsyncSemaphore& sem_;
    detail::Waiter node_;
  };

  class [[nodiscard]] ScopedAcquireAwaiter : public AcquireAwaiter {
   public:
    using AcquireAwaiter::AcquireAwaiter;
    SemaphoreGuard await_resume() const noexcept { return SemaphoreGuard(sem_); }
  };

  // `co_await acquire()`: returns once the coroutine holds a permit.
  AcquireAwaiter acquire() noexcept { return AcquireAwaiter(*this); }
  // `co_await acquire_scoped()`: as acquire(), the permit in a guard.
  ScopedAcquireAwaiter acquire_scoped() noexcept { return ScopedAcquireAwaiter(*this); }

  // Takes a permit if one is free now. Never suspends; false when none is
  // free (then someone may be waiting: try_acquire never jumps the queue).
  bool try_acquire() noexcept {
    std::lock_guard lock(mu_);
    if (available_ == 0) return false;
    --available_;
    return true;
  }

  // Gives back `n` permits: each goes to the oldest waiter, the rest are
  // counted as available.
  void release(std::size_t n = 1) noexcept {
    detail::WakeList wake;
    std::lock_guard lock(mu_);
    for (; n > 0; --n) {
      detail::Waiter* w = waiters_.pop_front();
      if (!w) break;
      wake.add(w);  // the permit passes to it directly
    }
    available_ += n;
  }

  // Snapshots, for tests and diagnostics.
  std::size_t available() const {
    std::lock_guard lock(mu_);
    return available_;
  }
  std::size_t waiting() const {
    std::lock_guard lock(mu_);
    return waiters_.size();
  }

 private:
  void forget(detail::Waiter& node) noexcept {
    std::lock_guard lock(mu_);
    if (node.queued) waiters_.remove(node);
  }

  mutable std::mutex mu_;
  std::size_t available_;  // > 0 only while waiters_ is empty
  detail::WaiterQueue waiters_;
};

inline void SemaphoreGuard::release() noexcept {
  if (sem_) std::exchange(sem_, nullptr)->release();
}

}  // namespace dftracer::utils
