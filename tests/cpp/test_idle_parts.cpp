// The idle coordinator, the injection queue and the python_threads permits
// on their own (the executor and the bindings use them; test_wakeups and the
// model check the protocol they take part in).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "dftracer/utils/core/detail/idle_coordinator.hpp"
#include "dftracer/utils/core/detail/injection_queue.hpp"
#include "python_permits.hpp"  // cpp/python: no Python in it
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::wait_until;

TEST(IdleCoordinator, AtMostAboutHalfTheWorkersSearch) {
  IdleCoordinator idle(8);
  for (int i = 0; i < 4; ++i) idle.add_worker();
  EXPECT_TRUE(idle.try_begin_search());
  EXPECT_TRUE(idle.try_begin_search());
  EXPECT_FALSE(idle.try_begin_search()) << "2 of 4 already search";
  EXPECT_EQ(idle.num_searching(), 2u);
  EXPECT_FALSE(idle.end_search());
  EXPECT_TRUE(idle.end_search()) << "the last searcher is told so";
}

TEST(IdleCoordinator, NotifyWakesAParkedWorkerOnlyWhenNobodySearches) {
  IdleCoordinator idle(2);
  idle.add_worker();
  idle.add_worker();
  ASSERT_TRUE(idle.prepare_park(0, false));
  EXPECT_EQ(idle.num_parked(), 1u);
  ASSERT_TRUE(idle.try_begin_search());  // worker 1 searches
  idle.notify_one();
  EXPECT_EQ(idle.num_parked(), 1u) << "a searcher will find the work: no wake";
  EXPECT_TRUE(idle.end_search());
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    idle.wait_parked(0);
    woke = true;
  });
  idle.notify_one();
  sleeper.join();
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(idle.num_parked(), 0u);
  EXPECT_EQ(idle.num_searching(), 1u) << "a woken worker starts out searching";
}

TEST(IdleCoordinator, CancelParkAfterARecheckLeavesNoParkedWorker) {
  IdleCoordinator idle(1);
  idle.add_worker();
  ASSERT_TRUE(idle.prepare_park(0, false));
  idle.cancel_park(0);  // the re-check found work
  EXPECT_EQ(idle.num_parked(), 0u);
  EXPECT_EQ(idle.num_searching(), 1u);
  idle.cancel_park(0);  // not listed any more: nothing changes
  EXPECT_EQ(idle.num_searching(), 1u);
}

TEST(IdleCoordinator, TimedParkUnlistsItselfAndStopRefusesToPark) {
  IdleCoordinator idle(1);
  idle.add_worker();
  ASSERT_TRUE(idle.prepare_park(0, false));
  EXPECT_FALSE(idle.wait_parked_for(0, 5ms));
  EXPECT_EQ(idle.num_parked(), 0u);
  idle.notify_all_and_stop();
  EXPECT_FALSE(idle.prepare_park(0, false));
}

TEST(InjectionQueue, KeepsOrderAcrossGrowthAndBatches) {
  InjectionQueue q;
  std::vector<std::uintptr_t> got;
  for (std::uintptr_t i = 1; i <= 5000; ++i) q.push(WorkItem::from_bits(i << 1));
  EXPECT_EQ(q.size_hint(), 5000u);
  while (q.pop_batch(7, [&](WorkItem w) { got.push_back(w.bits() >> 1); }) != 0) {}
  ASSERT_EQ(got.size(), 5000u);
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i + 1);
  EXPECT_TRUE(q.empty_hint());
  EXPECT_FALSE(q.has_work());
}

TEST(InjectionQueue, ManyProducersOneConsumerLoseNothing) {
  InjectionQueue q;
  constexpr int kProducers = 4, kEach = 20000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q, p] {
      for (int i = 0; i < kEach; ++i) q.push(WorkItem::from_bits(static_cast<std::uintptr_t>(p * kEach + i + 1) << 1));
    });
  }
  std::vector<int> seen(kProducers * kEach + 1, 0);
  int taken = 0;
  while (taken < kProducers * kEach) {
    taken += static_cast<int>(q.pop_batch(32, [&](WorkItem w) { ++seen[w.bits() >> 1]; }));
  }
  for (auto& t : producers) t.join();
  for (int i = 1; i <= kProducers * kEach; ++i) ASSERT_EQ(seen[i], 1) << i;
}

TEST(PythonPermits, CapBoundsConcurrentHoldersAndNestedHoldsReuseThePermit) {
  python::PythonPermits permits(2);
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        python::PythonPermits::Hold hold(&permits);
        python::PythonPermits::Hold nested(&permits);  // same thread: no second permit
        int now = inside.fetch_add(1) + 1;
        int prev = most.load();
        while (now > prev && !most.compare_exchange_weak(prev, now)) {}
        std::this_thread::yield();
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(most.load(), 1);
}

TEST(PythonPermits, PauseGivesThePermitBackForAWait) {
  python::PythonPermits permits(1);
  std::atomic<bool> other_ran{false};
  {
    python::PythonPermits::Hold hold(&permits);
    std::thread other([&] {
      python::PythonPermits::Hold theirs(&permits);  // needs ours
      other_ran = true;
    });
    {
      python::PythonPermits::Pause pause;  // as a blocking wait does
      EXPECT_TRUE(wait_until([&] { return other_ran.load(); }, 10s));
    }
    other.join();
  }
  EXPECT_TRUE(other_ran.load());
}
