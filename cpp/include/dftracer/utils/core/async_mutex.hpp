// AsyncMutex: mutual exclusion for coroutines, held across suspensions.
//
//   AsyncMutex mu;
//   {
//     AsyncMutexGuard lock = co_await mu.lock();
//     co_await write_record(out, rec);           // may suspend, still held
//   }                                            // unlocked here
//
// A std::mutex must not be held across co_await (the coroutine may resume on
// another thread, and a worker blocked on the lock cannot run the holder).
// This one suspends the coroutine instead of the thread, and may be unlocked
// from any thread. It is an AsyncSemaphore with one permit, so it shares its
// rules (async_semaphore.hpp): FIFO hand-off (unlock passes ownership to the
// oldest waiter, nobody barges in), and the new owner is scheduled on the
// executor it suspended on, never resumed on the unlocking thread's stack.
// Not recursive: locking it again from the owning coroutine deadlocks that
// coroutine.
#pragma once

#include <optional>
#include <utility>

#include "dftracer/utils/core/async_semaphore.hpp"

namespace dftracer::utils {

class AsyncMutex;

// Owns the lock of an AsyncMutex; unlocks when destroyed (or on unlock()).
class [[nodiscard]] AsyncMutexGuard {
 public:
  AsyncMutexGuard() noexcept = default;
  AsyncMutexGuard(AsyncMutexGuard&&) noexcept = default;
  AsyncMutexGuard& operator=(AsyncMutexGuard&&) noexcept = default;

  bool owns_lock() const noexcept { return permit_.owns_permit(); }
  explicit operator bool() const noexcept { return owns_lock(); }
  void unlock() noexcept { permit_.release(); }

 private:
  friend class AsyncMutex;
  explicit AsyncMutexGuard(AsyncSemaphore& sem) noexcept : permit_(sem) {}
  SemaphoreGuard permit_;
};

class AsyncMutex {
 public:
  AsyncMutex() noexcept = default;
  AsyncMutex(const AsyncMutex&) = delete;
  AsyncMutex& operator=(const AsyncMutex&) = delete;

  class [[nodiscard]] LockAwaiter : public AsyncSemaphore::AcquireAwaiter {
   public:
    using AcquireAwaiter::AcquireAwaiter;
    AsyncMutexGuard await_resume() const noexcept { return AsyncMutexGuard(sem_); }
  };

  // `co_await lock()`: the guard once this coroutine owns the mutex.
  LockAwaiter lock() noexcept { return LockAwaiter(sem_); }
  // The guard if the mutex is free now, else std::nullopt. Never suspends.
  std::optional<AsyncMutexGuard> try_lock() noexcept {
    if (!sem_.try_acquire()) return std::nullopt;
    return AsyncMutexGuard(sem_);
  }

  // Snapshots, for tests and diagnostics.
  bool is_locked() const { return sem_.available() == 0; }
  std::size_t waiting() const { return sem_.waiting(); }

 private:
  AsyncSemaphore sem_{1};
};

}  // namespace dftracer::utils
