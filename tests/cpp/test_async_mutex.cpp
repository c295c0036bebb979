// AsyncMutex: exclusion held across suspensions, a guard that unlocks on
// every path, try_lock, FIFO hand-off, and unlock from another thread.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using dftracer::utils::test::wait_until;

// A plain counter (no atomics) incremented in the critical section, with a
// suspension in the middle: any overlap would lose increments, and TSan
// would report the race.
TEST(AsyncMutex, ExcludesAcrossSuspensionsOnManyThreads) {
  Runtime rt({.threads = 4, .io_threads = 1});
  AsyncMutex mu;
  long counter = 0;
  std::atomic<int> inside{0}, overlaps{0};
  const int n = static_cast<int>(test::scaled(20000, 1000));
  auto worker = [&](int i) -> Task<void> {
    AsyncMutexGuard lock = co_await mu.lock();
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    long seen = counter;
    if (i % 4 == 0) co_await yield_now();  // may resume on another worker
    counter = seen + 1;
    inside.fetch_sub(1);
  };
  auto body = [&]() -> Task<void> {
    std::vector<Task<void>> all;
    for (int i = 0; i < n; ++i) all.push_back(worker(i));
    co_await when_all(std::move(all));
  };
  sync_wait(rt, body());
  EXPECT_EQ(counter, n);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_FALSE(mu.is_locked());
}

TEST(AsyncMutex, TryLockFailsWhileHeldAndTheGuardUnlocks) {
  AsyncMutex mu;
  std::optional<AsyncMutexGuard> g = mu.try_lock();
  ASSERT_TRUE(g && g->owns_lock());
  EXPECT_TRUE(mu.is_locked());
  EXPECT_FALSE(mu.try_lock().has_value());
  g->unlock();
  EXPECT_FALSE(g->owns_lock());
  EXPECT_FALSE(mu.is_locked());
  {
    auto again = mu.try_lock();
    EXPECT_TRUE(again.has_value());
  }
  EXPECT_FALSE(mu.is_locked());
}

TEST(AsyncMutex, GuardUnlocksWhenTheBodyThrows) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncMutex mu;
  auto body = [&]() -> Task<void> {
    AsyncMutexGuard lock = co_await mu.lock();
    throw std::runtime_error("inside the lock");
  };
  EXPECT_THROW(sync_wait(rt, body()), std::runtime_error);
  EXPECT_FALSE(mu.is_locked());
}

TEST(AsyncMutex, UnlockHandsTheLockToWaitersInArrivalOrder) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncMutex mu;
  std::optional<AsyncMutexGuard> held = mu.try_lock();
  ASSERT_TRUE(held);
  std::vector<int> order;  // written under the async mutex only
  std::vector<TaskHandle<void>> hs;
  for (int i = 0; i < 5; ++i) {
    hs.push_back(rt.submit([&, i]() -> Task<void> {
      AsyncMutexGuard lock = co_await mu.lock();
      order.push_back(i);
    }));
    ASSERT_TRUE(wait_until([&] { return mu.waiting() == static_cast<std::size_t>(i + 1); }));
  }
  // Unlocked from this plain thread: the next owner is scheduled on its pool.
  held->unlock();
  for (auto& h : hs) h.get();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(mu.is_locked());
}

// A guard taken on one thread and released on another: the lock belongs to
// the coroutine, not to a thread.
TEST(AsyncMutex, AGuardMayBeReleasedOnAnotherThread) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncMutex mu;
  TaskHandle<bool> h = rt.submit([&]() -> Task<bool> {
    AsyncMutexGuard lock = co_await mu.lock();
    co_await on_io();  // now on another pool's thread
    lock.unlock();
    co_return !mu.is_locked();
  });
  EXPECT_TRUE(h.get());
}
