// ChaseLevDeque: owner LIFO, thieves FIFO, growth, the take/steal race, and
// take_if (the join fast path) against thieves.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "dftracer/utils/core/detail/chase_lev_deque.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using dftracer::utils::test::scaled;

namespace {
// Items are plain tagged words here; coroutine items have bit 0 clear, so
// even numbers stand in for them without any frame behind them.
WorkItem item(std::uint64_t i) { return WorkItem::from_bits(static_cast<std::uintptr_t>(i) << 1); }
std::uint64_t index_of(WorkItem w) { return static_cast<std::uint64_t>(w.bits() >> 1); }
}  // namespace

TEST(ChaseLevDeque, EmptyDequeGivesNothingToOwnerOrThief) {
  ChaseLevDeque d;
  EXPECT_FALSE(d.take());
  WorkItem out;
  EXPECT_EQ(d.steal(out), ChaseLevDeque::StealResult::empty);
  EXPECT_TRUE(d.empty_hint());
  EXPECT_EQ(d.size_hint(), 0u);
}

TEST(ChaseLevDeque, OwnerTakesNewestFirst) {
  ChaseLevDeque d;
  for (std::uint64_t i = 1; i <= 100; ++i) d.push(item(i));
  EXPECT_EQ(d.size_hint(), 100u);
  for (std::uint64_t i = 100; i >= 1; --i) {
    WorkItem w = d.take();
    ASSERT_TRUE(w);
    EXPECT_EQ(index_of(w), i);
  }
  EXPECT_FALSE(d.take());
}

TEST(ChaseLevDeque, ThievesStealOldestFirst) {
  ChaseLevDeque d;
  for (std::uint64_t i = 1; i <= 100; ++i) d.push(item(i));
  for (std::uint64_t i = 1; i <= 100; ++i) {
    WorkItem out;
    ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
    EXPECT_EQ(index_of(out), i);
  }
  WorkItem out;
  EXPECT_EQ(d.steal(out), ChaseLevDeque::StealResult::empty);
}

TEST(ChaseLevDeque, OwnerAndThiefMeetInTheMiddle) {
  ChaseLevDeque d;
  for (std::uint64_t i = 1; i <= 10; ++i) d.push(item(i));
  WorkItem out;
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  EXPECT_EQ(index_of(out), 1u);
  EXPECT_EQ(index_of(d.take()), 10u);
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  EXPECT_EQ(index_of(out), 2u);
  EXPECT_EQ(d.size_hint(), 7u);
}

TEST(ChaseLevDeque, GrowsWhenFullAndKeepsEveryItemInOrder) {
  ChaseLevDeque d(2);  // grows 2 -> 4 -> ... -> 16384
  constexpr std::uint64_t n = 10000;
  // Steal a few first so the live range wraps around the buffer when it grows.
  for (std::uint64_t i = 1; i <= 3; ++i) d.push(item(i));
  WorkItem out;
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  for (std::uint64_t i = 4; i <= n; ++i) d.push(item(i));
  EXPECT_EQ(d.size_hint(), n - 2);
  // Oldest from the top, newest from the bottom: both ends survived growth.
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  EXPECT_EQ(index_of(out), 3u);
  for (std::uint64_t i = n; i >= 4; --i) {
    WorkItem w = d.take();
    ASSERT_TRUE(w);
    ASSERT_EQ(index_of(w), i);
  }
  EXPECT_FALSE(d.take());
}

TEST(ChaseLevDeque, ReusedAfterDrainingWorksLikeNew) {
  ChaseLevDeque d(4);
  for (int round = 0; round < 1000; ++round) {
    for (std::uint64_t i = 1; i <= 3; ++i) d.push(item(i));
    WorkItem out;
    ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
    ASSERT_EQ(index_of(out), 1u);
    ASSERT_EQ(index_of(d.take()), 3u);
    ASSERT_EQ(index_of(d.take()), 2u);
    ASSERT_FALSE(d.take());
  }
}

TEST(ChaseLevDeque, TakeIfTakesOnlyTheExpectedBottomItem) {
  ChaseLevDeque d;
  EXPECT_FALSE(d.take_if(item(1)));  // empty
  for (std::uint64_t i = 1; i <= 3; ++i) d.push(item(i));
  EXPECT_FALSE(d.take_if(item(1)));  // in the deque, but not at the bottom
  EXPECT_FALSE(d.take_if(item(7)));  // not in the deque
  EXPECT_EQ(d.size_hint(), 3u);
  EXPECT_TRUE(d.take_if(item(3)));
  EXPECT_TRUE(d.take_if(item(2)));
  EXPECT_EQ(d.size_hint(), 1u);
  EXPECT_EQ(index_of(d.take()), 1u);
  EXPECT_FALSE(d.take());
}

// A stolen item's slot still holds its bits below the new top: take_if must
// not hand it out a second time.
TEST(ChaseLevDeque, TakeIfFailsForAnItemAThiefTook) {
  ChaseLevDeque d;
  d.push(item(1));
  WorkItem out;
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  EXPECT_FALSE(d.take_if(item(1)));
  EXPECT_FALSE(d.take());
  d.push(item(2));
  d.push(item(3));
  ASSERT_EQ(d.steal(out), ChaseLevDeque::StealResult::success);
  EXPECT_EQ(index_of(out), 2u);
  EXPECT_TRUE(d.take_if(item(3)));
  EXPECT_FALSE(d.take_if(item(3)));
  EXPECT_EQ(d.size_hint(), 0u);
  // Still usable afterwards.
  d.push(item(4));
  EXPECT_EQ(index_of(d.take()), 4u);
}

// The join fast path races thieves for one item at a time (push one, then
// take_if it back): exactly one side gets each item.
TEST(ChaseLevDeque, ConcurrentTakeIfAndStealHandOutEveryItemExactlyOnce) {
  const std::uint64_t n = scaled(200000, 20000);
  ChaseLevDeque d(4);
  auto seen = std::make_unique<std::atomic<std::uint8_t>[]>(n + 1);
  for (std::uint64_t i = 0; i <= n; ++i) seen[i].store(0, std::memory_order_relaxed);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> stolen{0};
  std::vector<std::thread> thieves;
  for (int t = 0; t < 2; ++t) {
    thieves.emplace_back([&] {
      while (!done.load(std::memory_order_acquire)) {
        WorkItem out;
        if (d.steal(out) == ChaseLevDeque::StealResult::success) {
          seen[index_of(out)].fetch_add(1, std::memory_order_relaxed);
          stolen.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  std::uint64_t kept = 0;
  for (std::uint64_t i = 1; i <= n; ++i) {
    // Sometimes with an older item below it, so both the last-item race and
    // the plain case run.
    bool two = (i % 3 == 0) && i < n;
    d.push(item(i));
    if (two) d.push(item(i + 1));
    std::uint64_t top = two ? i + 1 : i;
    if (d.take_if(item(top))) {
      seen[top].fetch_add(1, std::memory_order_relaxed);
      ++kept;
    }
    if (two) {
      if (d.take_if(item(i))) {
        seen[i].fetch_add(1, std::memory_order_relaxed);
        ++kept;
      }
      ++i;
    }
  }
  // Whatever is left (an item a failed take_if left behind cannot exist:
  // take_if only fails when the item is gone or not at the bottom).
  while (WorkItem w = d.take()) {
    seen[index_of(w)].fetch_add(1, std::memory_order_relaxed);
    ++kept;
  }
  done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();
  EXPECT_EQ(kept + stolen.load(), n);
  for (std::uint64_t i = 1; i <= n; ++i) ASSERT_EQ(seen[i].load(), 1u) << "item " << i;
}

// The owner pushes (forcing growth) and takes while many thieves steal: every
// item must come out exactly once, whoever gets it.
TEST(ChaseLevDeque, ConcurrentStealAndTakeHandOutEveryItemExactlyOnce) {
  const std::uint64_t n = scaled(400000, 20000);
  const int thieves = 6;
  ChaseLevDeque d(8);
  auto seen = std::make_unique<std::atomic<std::uint8_t>[]>(n + 1);
  for (std::uint64_t i = 0; i <= n; ++i) seen[i].store(0, std::memory_order_relaxed);
  std::atomic<std::uint64_t> taken{0};
  std::atomic<bool> done_pushing{false};
  std::atomic<std::uint64_t> duplicates{0};

  auto record = [&](WorkItem w) {
    std::uint64_t i = index_of(w);
    if (i == 0 || i > n || seen[i].fetch_add(1, std::memory_order_relaxed) != 0) {
      duplicates.fetch_add(1, std::memory_order_relaxed);
    }
    taken.fetch_add(1, std::memory_order_relaxed);
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < thieves; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        WorkItem out;
        auto r = d.steal(out);
        if (r == ChaseLevDeque::StealResult::success) {
          record(out);
        } else if (r == ChaseLevDeque::StealResult::empty && done_pushing.load(std::memory_order_acquire)) {
          if (d.empty_hint()) break;
        }
      }
    });
  }
  // Owner: bursts of pushes then a few takes, so the last-item race
  // (take vs steal on one item) happens often.
  std::uint64_t next = 1;
  std::uint64_t burst = 1;
  while (next <= n) {
    for (std::uint64_t k = 0; k < burst && next <= n; ++k) d.push(item(next++));
    for (std::uint64_t k = 0; k < (burst + 1) / 2; ++k) {
      if (WorkItem w = d.take()) record(w);
    }
    burst = burst % 64 + 1;
  }
  while (WorkItem w = d.take()) record(w);
  done_pushing.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  EXPECT_EQ(duplicates.load(), 0u);
  EXPECT_EQ(taken.load(), n);
  std::uint64_t missing = 0;
  for (std::uint64_t i = 1; i <= n; ++i) missing += seen[i].load(std::memory_order_relaxed) != 1;
  EXPECT_EQ(missing, 0u);
}
