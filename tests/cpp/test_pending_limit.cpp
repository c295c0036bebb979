// max_pending: PendingLimit on its own (bound, blocking, timeouts, wakes
// under contention) and inside Runtime (external submitters wait, the
// runtime's own workers never do, shutdown releases blocked submitters).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "dftracer/utils/core/detail/pending_limit.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::Gate;
using dftracer::utils::test::scaled;
using dftracer::utils::test::wait_until;

TEST(PendingLimit, DisabledAdmitsEverythingAndCountsNothing) {
  PendingLimit limit(0);
  EXPECT_FALSE(limit.enabled());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(limit.try_acquire());
    limit.admit(false);  // never waits
    limit.force_acquire();
  }
  EXPECT_TRUE(limit.acquire_for(0ms));
  limit.admit(false);
  limit.release();
  EXPECT_EQ(limit.pending(), 0u);
}

TEST(PendingLimit, TryAcquireStopsAtTheBoundAndReleaseFreesOneSlot) {
  PendingLimit limit(3);
  EXPECT_TRUE(limit.try_acquire());
  EXPECT_TRUE(limit.try_acquire());
  EXPECT_TRUE(limit.try_acquire());
  EXPECT_FALSE(limit.try_acquire());
  EXPECT_EQ(limit.pending(), 3u);
  limit.release();
  EXPECT_TRUE(limit.try_acquire());
  EXPECT_FALSE(limit.try_acquire());
}

TEST(PendingLimit, ForceAcquireGoesOverTheBoundAndRoomReturnsOnlyBelowIt) {
  PendingLimit limit(2);
  limit.admit(false);
  limit.admit(false);
  limit.admit(true);  // a worker of the runtime: never waits
  limit.force_acquire();
  EXPECT_EQ(limit.pending(), 4u);
  limit.release();
  limit.release();
  EXPECT_FALSE(limit.try_acquire());  // back at the bound, still full
  limit.release();
  EXPECT_TRUE(limit.try_acquire());
}

TEST(PendingLimit, AcquireForTimesOutWhenFullAndTakesNothing) {
  PendingLimit limit(1);
  ASSERT_TRUE(limit.try_acquire());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(limit.acquire_for(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
  EXPECT_FALSE(limit.acquire_for(0ms));
  EXPECT_EQ(limit.pending(), 1u);
}

TEST(PendingLimit, BlockedAcquireWakesOnRelease) {
  PendingLimit limit(1);
  ASSERT_TRUE(limit.try_acquire());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    limit.acquire();
    got.store(true);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());
  limit.release();
  EXPECT_TRUE(wait_until([&] { return got.load(); }));
  waiter.join();
  EXPECT_EQ(limit.pending(), 1u);
}

TEST(PendingLimit, EveryBlockedWaiterIsWokenWhenSlotsFree) {
  PendingLimit limit(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limit.try_acquire());
  std::atomic<int> admitted{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      limit.acquire();
      admitted.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(admitted.load(), 0);
  for (int i = 0; i < 4; ++i) limit.release();  // one wake (full -> not full) must serve all four
  EXPECT_TRUE(wait_until([&] { return admitted.load() == 4; }));
  for (auto& t : waiters) t.join();
}

// Many threads, tiny bound, random holds and timeouts: the bound is never
// exceeded and nobody is left asleep with a free slot (the test would hang).
TEST(PendingLimit, HammerNeverExceedsTheBoundNorLosesAWake) {
  constexpr std::uint64_t kMax = 3;
  PendingLimit limit(kMax);
  std::atomic<std::uint64_t> inside{0}, peak{0};
  const std::size_t iterations = scaled(20000, 500);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u);
      for (std::size_t i = 0; i < iterations; ++i) {
        bool got;
        switch (rng() % 3) {
          case 0:
            got = limit.try_acquire();
            break;
          case 1:
            got = limit.acquire_for(std::chrono::microseconds(rng() % 200));
            break;
          default:
            limit.acquire();
            got = true;
            break;
        }
        if (!got) continue;
        std::uint64_t now = inside.fetch_add(1) + 1;
        std::uint64_t p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {}
        for (unsigned spin = rng() % 64; spin > 0; --spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        if (rng() % 16 == 0) std::this_thread::yield();
        inside.fetch_sub(1);
        limit.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), kMax);
  EXPECT_EQ(limit.pending(), 0u);
}

TEST(RuntimeMaxPending, ExternalSubmitterWaitsWhileTheBoundIsReached) {
  Runtime rt({.threads = 2, .io_threads = 1, .max_pending = 2});
  Gate gate;
  auto a = rt.submit([&] { gate.wait(); });
  auto b = rt.submit([&] { gate.wait(); });
  std::atomic<bool> submitted{false};
  std::thread producer([&] {
    auto c = rt.submit([] { return 3; });
    submitted.store(true);
    EXPECT_EQ(c.get(), 3);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(submitted.load());
  EXPECT_EQ(rt.pending_limit().pending(), 2u);
  gate.open();
  EXPECT_TRUE(wait_until([&] { return submitted.load(); }));
  producer.join();
  rt.wait_all();
  EXPECT_EQ(rt.pending_limit().pending(), 0u);
}

TEST(RuntimeMaxPending, SeveralProducersNeverHoldMoreThanTheBound) {
  constexpr std::size_t kMax = 8;
  Runtime rt({.threads = 2, .io_threads = 1, .max_pending = kMax});
  std::atomic<std::uint64_t> peak{0};
  const std::size_t per_producer = scaled(5000, 200);
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      for (std::size_t i = 0; i < per_producer; ++i) {
        (void)rt.submit([&] {
          std::uint64_t now = rt.pending_limit().pending();
          std::uint64_t seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {}
        });
      }
    });
  }
  for (auto& t : producers) t.join();
  rt.wait_all();
  EXPECT_LE(peak.load(), kMax);
  EXPECT_EQ(rt.registry().totals().completed, 4 * per_producer);
}

// The deadlock case: every pending task is a producer that submits more. A
// worker's own submissions are admitted over the bound, so it finishes.
TEST(RuntimeMaxPending, TasksSubmittingIntoAFullRuntimeDoNotDeadlock) {
  Runtime rt({.threads = 1, .io_threads = 1, .max_pending = 2});
  std::atomic<int> children{0};
  auto parent = [&] {
    std::vector<TaskHandle<void>> kids;
    for (int i = 0; i < 20; ++i) kids.push_back(rt.submit([&] { children.fetch_add(1); }));
    for (auto& k : kids) k.get();
  };
  auto p1 = rt.submit(parent);
  auto p2 = rt.submit(parent);
  p1.get();
  p2.get();
  EXPECT_EQ(children.load(), 40);
  rt.wait_all();
  EXPECT_EQ(rt.pending_limit().pending(), 0u);
}

TEST(RuntimeMaxPending, ShutdownRefusesASubmitterThatWasWaitingForRoom) {
  Runtime rt({.threads = 1, .io_threads = 1, .max_pending = 1});
  Gate gate;
  auto held = rt.submit([&] { gate.wait(); });
  std::atomic<int> outcome{0};  // 1 refused, 2 accepted
  std::thread producer([&] {
    try {
      (void)rt.submit([] {});
      outcome.store(2);
    } catch (const RuntimeShutdownError&) {
      outcome.store(1);
    }
  });
  std::this_thread::sleep_for(30ms);
  std::thread closer([&] { rt.shutdown(true); });
  std::this_thread::sleep_for(30ms);
  gate.open();
  producer.join();
  closer.join();
  // Either it got the freed slot before the close (and its task ran), or it
  // was refused; it never hangs and never leaks its slot.
  EXPECT_NE(outcome.load(), 0);
  EXPECT_EQ(rt.pending_limit().pending(), 0u);
}

TEST(RuntimeMaxPending, RefusedSubmissionGivesItsSlotBack) {
  Runtime rt({.threads = 1, .io_threads = 1, .max_pending = 1});
  rt.shutdown(true);
  EXPECT_THROW((void)rt.submit([] {}), RuntimeShutdownError);
  EXPECT_EQ(rt.pending_limit().pending(), 0u);
}
