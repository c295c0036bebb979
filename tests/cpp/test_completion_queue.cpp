// CompletionQueue: keys come out once per watch, in completion order, from
// tasks finished on any thread; waits wake without timers; a queue dropped
// with watches outstanding frees their nodes when the tasks finish.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "dftracer/utils/core/detail/completion_queue.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::Gate;
using dftracer::utils::test::scaled;

namespace {
std::uint64_t pop_waiting(CompletionQueue& q, std::chrono::seconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto k = q.try_pop()) return *k;
    if (std::chrono::steady_clock::now() >= deadline) ADD_FAILURE() << "no key in time";
    if (std::chrono::steady_clock::now() >= deadline) return ~0ull;
    q.wait(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now()));
  }
}
}  // namespace

TEST(CompletionQueue, AlreadyFinishedAndPostedKeysAreReadyAtOnce) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto h = rt.submit([] { return 1; });
  h.wait();
  CompletionQueue q;
  EXPECT_FALSE(q.try_pop());
  q.watch(h.state(), 7);
  q.post(8);
  EXPECT_EQ(q.ready(), 2u);
  EXPECT_EQ(q.try_pop(), 7u);
  EXPECT_EQ(q.try_pop(), 8u);
  EXPECT_FALSE(q.try_pop());
}

TEST(CompletionQueue, KeysComeOutInCompletionOrder) {
  Runtime rt({.threads = 3, .io_threads = 1});
  Gate a, b, c;
  auto ha = rt.submit([&] { a.wait(); });
  auto hb = rt.submit([&] { b.wait(); });
  auto hc = rt.submit([&] { c.wait(); });
  CompletionQueue q;
  q.watch(ha.state(), 1);
  q.watch(hb.state(), 2);
  q.watch(hc.state(), 3);
  EXPECT_FALSE(q.wait(20ms));  // nothing finished: times out
  b.open();
  EXPECT_EQ(pop_waiting(q), 2u);
  c.open();
  EXPECT_EQ(pop_waiting(q), 3u);
  a.open();
  EXPECT_EQ(pop_waiting(q), 1u);
}

TEST(CompletionQueue, WaitIsWokenByAFinishOnAnotherThread) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto h = rt.submit([&] { gate.wait(); });
  CompletionQueue q;
  q.watch(h.state(), 5);
  std::thread opener([&] {
    std::this_thread::sleep_for(30ms);
    gate.open();
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(q.wait(std::chrono::seconds(30)));  // woken, not timed out
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_EQ(q.try_pop(), 5u);
  opener.join();
}

// Many tasks on both pools, finishing in any order on many threads, each
// key exactly once; the consumer sleeps whenever nothing is ready, so a lost
// wake would hang the test.
TEST(CompletionQueue, HammerEveryKeyExactlyOnce) {
  Runtime rt({.threads = 3, .io_threads = 2});
  const std::size_t n = scaled(20000, 500);
  CompletionQueue q;
  std::vector<TaskHandle<void>> handles;
  handles.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Pool pool = i % 4 == 0 ? Pool::io : Pool::compute;
    handles.push_back(rt.submit(
        [i] {
          if (i % 7 == 0) std::this_thread::yield();
        },
        {}, pool));
    q.watch(handles.back().state(), i);
    if (i % 5 == 0) q.post(n + i);
  }
  std::set<std::uint64_t> seen;
  const std::size_t expected = n + (n + 4) / 5;
  while (seen.size() < expected) {
    std::uint64_t k = pop_waiting(q);
    ASSERT_NE(k, ~0ull);
    ASSERT_TRUE(seen.insert(k).second) << "key " << k << " twice";
  }
  EXPECT_FALSE(q.try_pop());
}

// Dropping the queue while its tasks still run: they finish later and free
// their nodes (ASan would report a leak or a use after free).
TEST(CompletionQueue, DroppedWithWatchesOutstanding) {
  Runtime rt({.threads = 2, .io_threads = 1});
  for (int round = 0; round < static_cast<int>(scaled(200, 20)); ++round) {
    Gate gate;
    std::vector<TaskHandle<void>> handles;
    {
      CompletionQueue q;
      for (int i = 0; i < 8; ++i) {
        handles.push_back(rt.submit([&] { gate.wait(); }));
        q.watch(handles.back().state(), static_cast<std::uint64_t>(i));
      }
      if (round % 2) gate.open();  // some finish while the queue dies
    }
    gate.open();
    for (auto& h : handles) h.wait();
  }
  rt.wait_all();
}
