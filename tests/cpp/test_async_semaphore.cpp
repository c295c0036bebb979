// AsyncSemaphore: bounds concurrency without blocking threads, serves
// waiters first come first served, never lets try_acquire jump the queue,
// and releases through its guard on every path.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using dftracer::utils::test::wait_until;

TEST(AsyncSemaphore, BoundsHowManyHoldAPermitAtOnce) {
  Runtime rt({.threads = 4, .io_threads = 1});
  AsyncSemaphore sem(2);
  std::atomic<int> inside{0}, peak{0};
  const int n = static_cast<int>(test::scaled(400, 40));
  auto worker = [&]() -> Task<void> {
    SemaphoreGuard permit = co_await sem.acquire_scoped();
    int now = inside.fetch_add(1) + 1;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {}
    for (int k = 0; k < 3; ++k) co_await yield_now();  // hold it across suspensions
    inside.fetch_sub(1);
  };
  auto body = [&]() -> Task<void> {
    std::vector<Task<void>> all;
    for (int i = 0; i < n; ++i) all.push_back(worker());
    co_await when_all(std::move(all));
  };
  sync_wait(rt, body());
  EXPECT_LE(peak.load(), 2);
  EXPECT_GE(peak.load(), 1);
  EXPECT_EQ(sem.available(), 2u);
}

TEST(AsyncSemaphore, WaitersAreServedInArrivalOrder) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncSemaphore sem(0);
  std::vector<int> order;
  std::mutex order_mu;
  std::vector<TaskHandle<void>> hs;
  for (int i = 0; i < 6; ++i) {
    hs.push_back(rt.submit([&, i]() -> Task<void> {
      co_await sem.acquire();
      std::lock_guard lock(order_mu);
      order.push_back(i);
    }));
    ASSERT_TRUE(wait_until([&] { return sem.waiting() == static_cast<std::size_t>(i + 1); }));
  }
  for (int i = 0; i < 6; ++i) {
    sem.release();  // from this plain thread: the waiter is scheduled on its pool
    hs[static_cast<std::size_t>(i)].get();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(sem.available(), 0u);  // each permit went to a waiter
}

TEST(AsyncSemaphore, TryAcquireNeverJumpsTheQueue) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncSemaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  EXPECT_FALSE(sem.try_acquire());
  TaskHandle<void> waiter = rt.submit([&]() -> Task<void> { co_await sem.acquire(); });
  ASSERT_TRUE(wait_until([&] { return sem.waiting() == 1; }));
  sem.release();  // handed to the waiter, not counted as free
  EXPECT_FALSE(sem.try_acquire());
  waiter.get();
  EXPECT_EQ(sem.available(), 0u);
  sem.release();
  EXPECT_TRUE(sem.try_acquire());
}

TEST(AsyncSemaphore, ReleaseOfSeveralWakesThatManyAndCountsTheRest) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncSemaphore sem(0);
  std::atomic<int> through{0};
  std::vector<TaskHandle<void>> hs;
  for (int i = 0; i < 3; ++i) {
    hs.push_back(rt.submit([&]() -> Task<void> {
      co_await sem.acquire();
      through.fetch_add(1);
    }));
  }
  ASSERT_TRUE(wait_until([&] { return sem.waiting() == 3; }));
  sem.release(5);
  for (auto& h : hs) h.get();
  EXPECT_EQ(through.load(), 3);
  EXPECT_EQ(sem.available(), 2u);
}

TEST(AsyncSemaphore, GuardReleasesWhenTheBodyThrows) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncSemaphore sem(1);
  auto body = [&]() -> Task<void> {
    SemaphoreGuard permit = co_await sem.acquire_scoped();
    EXPECT_TRUE(permit.owns_permit());
    throw std::runtime_error("inside");
  };
  EXPECT_THROW(sync_wait(rt, body()), std::runtime_error);
  EXPECT_EQ(sem.available(), 1u);
}

TEST(AsyncSemaphore, GuardMovesAndReleasesOnce) {
  AsyncSemaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  SemaphoreGuard a(sem);  // adopts
  SemaphoreGuard b(std::move(a));
  EXPECT_FALSE(a.owns_permit());
  EXPECT_TRUE(b.owns_permit());
  b.release();
  b.release();  // no-op
  EXPECT_EQ(sem.available(), 1u);
}

TEST(AsyncSemaphore, StressPermitsAreNeverOverSubscribed) {
  Runtime rt({.threads = 4, .io_threads = 1});
  AsyncSemaphore sem(3);
  std::atomic<int> inside{0}, violations{0};
  const int n = static_cast<int>(test::scaled(20000, 1000));
  auto worker = [&](int i) -> Task<void> {
    if (i % 3 == 0) {
      while (!sem.try_acquire()) co_await yield_now();
    } else {
      co_await sem.acquire();
    }
    if (inside.fetch_add(1) >= 3) violations.fetch_add(1);
    if (i % 2 == 0) co_await yield_now();
    inside.fetch_sub(1);
    sem.release();
  };
  auto body = [&]() -> Task<void> {
    std::vector<Task<void>> all;
    for (int i = 0; i < n; ++i) all.push_back(worker(i));
    co_await when_all(std::move(all));
  };
  sync_wait(rt, body());
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(sem.available(), 3u);
  EXPECT_EQ(sem.waiting(), 0u);
}

// Permits released from plain threads while coroutines wait on the pool.
TEST(AsyncSemaphore, StressReleasesFromForeignThreads) {
  Runtime rt({.threads = 2, .io_threads = 1});
  AsyncSemaphore sem(0);
  const int n = static_cast<int>(test::scaled(20000, 1000));
  std::atomic<int> got{0};
  TaskHandle<void> consumer = rt.submit([&]() -> Task<void> {
    for (int i = 0; i < n; ++i) {
      co_await sem.acquire();
      got.fetch_add(1);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < n / 2; ++i) sem.release();
    });
  }
  for (auto& t : threads) t.join();
  consumer.get();
  EXPECT_EQ(got.load(), n);
  EXPECT_EQ(sem.available(), 0u);
}
