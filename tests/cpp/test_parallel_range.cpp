// parallel_for / parallel_reduce: every index exactly once, pieces never
// larger than the grain, signed and extreme ranges, errors rethrown only
// after every piece has stopped, order-preserving and reproducible reduce.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;

class ParallelForThreads : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ParallelForThreads, VisitsEveryIndexExactlyOnce) {
  Runtime rt({.threads = GetParam(), .io_threads = 1});
  const std::size_t n = test::scaled(100000, 5000);
  for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}, n, 2 * n}) {
    auto hits = std::make_unique<std::atomic<int>[]>(n);
    sync_wait(rt, parallel_for(std::size_t{0}, n, grain, [&](std::size_t i) { hits[i].fetch_add(1); }));
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " grain " << grain;
  }
}
INSTANTIATE_TEST_SUITE_P(Threads, ParallelForThreads, ::testing::Values(1, 2, 4));

TEST(ParallelFor, ChunkBodyGetsPiecesNoLargerThanTheGrainCoveringTheRange) {
  Runtime rt({.threads = 4, .io_threads = 1});
  const int n = 10007;
  std::mutex mu;
  std::vector<std::pair<int, int>> pieces;
  sync_wait(rt, parallel_for(0, n, 64, [&](int b, int e) {
              std::lock_guard lock(mu);
              pieces.emplace_back(b, e);
            }));
  std::sort(pieces.begin(), pieces.end());
  int next = 0;
  for (auto [b, e] : pieces) {
    EXPECT_EQ(b, next);
    EXPECT_GT(e, b);
    EXPECT_LE(e - b, 64);
    next = e;
  }
  EXPECT_EQ(next, n);
}

TEST(ParallelFor, SignedRangesAcrossZeroAndMixedIndexTypes) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<long> sum{0};
  sync_wait(rt, parallel_for(-500, 501, 3, [&](int i) { sum.fetch_add(i); }));
  EXPECT_EQ(sum.load(), 0);
  std::vector<int> v(1000, 1);
  std::atomic<int> total{0};
  sync_wait(rt, parallel_for(0, v.size(), 10, [&](std::size_t i) { total.fetch_add(v[i]); }));  // int and size_t
  EXPECT_EQ(total.load(), 1000);
}

// The whole of int's range in big pieces: sizes and midpoints never overflow.
TEST(ParallelFor, ExtremeSignedRangeSplitsWithoutOverflow) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::mutex mu;
  std::vector<std::pair<int, int>> pieces;
  sync_wait(rt, parallel_for(INT_MIN, INT_MAX, std::size_t{1} << 28, [&](int b, int e) {
              std::lock_guard lock(mu);
              pieces.emplace_back(b, e);
            }));
  std::sort(pieces.begin(), pieces.end());
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.front().first, INT_MIN);
  EXPECT_EQ(pieces.back().second, INT_MAX);
  for (std::size_t i = 1; i < pieces.size(); ++i) EXPECT_EQ(pieces[i].first, pieces[i - 1].second);
  EXPECT_EQ(pieces.size(), 16u);  // 2^32 - 1 indices in pieces of at most 2^28
}

TEST(ParallelFor, EmptyAndReversedRangesDoNothing) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> calls{0};
  sync_wait(rt, parallel_for(5, 5, 1, [&](int) { calls.fetch_add(1); }));
  sync_wait(rt, parallel_for(9, 2, 1, [&](int) { calls.fetch_add(1); }));
  EXPECT_EQ(calls.load(), 0);
}

// The exception surfaces only once no piece runs any more: nothing of the
// loop is alive after parallel_for throws.
TEST(ParallelFor, FirstErrorIsRethrownAfterEveryPieceStopped) {
  Runtime rt({.threads = 4, .io_threads = 1});
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> active{0}, calls{0};
    int active_at_catch = -1;
    auto body = [&]() -> Task<std::string> {
      try {
        co_await parallel_for(0, 20000, 16, [&](int i) {
          active.fetch_add(1);
          calls.fetch_add(1);
          if (i % 997 == 500) {
            active.fetch_sub(1);
            throw std::runtime_error("bad index " + std::to_string(i));
          }
          active.fetch_sub(1);
        });
      } catch (const std::runtime_error& e) {
        active_at_catch = active.load();
        co_return e.what();
      }
      co_return "no error";
    };
    std::string what = sync_wait(rt, body());
    EXPECT_EQ(what.rfind("bad index ", 0), 0u) << what;
    EXPECT_EQ(active_at_catch, 0);
  }
}

// On one thread the order is fixed: the first leaf throws, every other
// piece is skipped.
TEST(ParallelFor, AfterTheFirstErrorPiecesNotStartedAreSkipped) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<int> calls{0};
  auto run = parallel_for(0, 1024, 1, [&](int) {
    calls.fetch_add(1);
    throw std::logic_error("stop");
  });
  EXPECT_THROW(sync_wait(rt, std::move(run)), std::logic_error);
  EXPECT_EQ(calls.load(), 1);
}

// Off the pools (driven by hand on this thread): a range of at most one
// grain runs here; a bigger one cannot spawn and fails with logic_error.
TEST(ParallelFor, OffThePoolOnlyASingleGrainRuns) {
  int calls = 0;
  Task<void> small = parallel_for(0, 10, 10, [&](int) { ++calls; });
  small.handle().resume();
  ASSERT_TRUE(small.handle().done());
  small.handle().promise().take();
  EXPECT_EQ(calls, 10);
  Task<void> big = parallel_for(0, 100, 10, [&](int) { ++calls; });
  big.handle().resume();
  ASSERT_TRUE(big.handle().done());
  EXPECT_THROW(big.handle().promise().take(), std::logic_error);
  EXPECT_EQ(calls, 10);  // the failure to split skipped every piece
}

TEST(ParallelReduce, SumsAndReturnsIdentityForAnEmptyRange) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto add = [](std::uint64_t a, std::uint64_t b) { return a + b; };
  const std::uint64_t n = test::scaled(1000000, 10000);
  std::uint64_t s =
      sync_wait(rt, parallel_reduce(
                        std::uint64_t{0}, n, 1000, std::uint64_t{0}, [](std::uint64_t i) { return i; }, add));
  EXPECT_EQ(s, n * (n - 1) / 2);
  EXPECT_EQ(sync_wait(rt, parallel_reduce(
                              3, 3, 1, std::uint64_t{42}, [](int) { return std::uint64_t{1}; }, add)),
            42u);
}

// String concatenation is associative but not commutative: the result is
// in index order whatever worker ran which piece.
TEST(ParallelReduce, CombinesInIndexOrder) {
  Runtime rt({.threads = 4, .io_threads = 1});
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += static_cast<char>('a' + i % 26);
  for (std::size_t grain : {std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{0}}) {
    std::string got = sync_wait(
        rt, parallel_reduce(
                0, 2000, grain, std::string(), [](int i) { return std::string(1, static_cast<char>('a' + i % 26)); },
                [](std::string a, std::string b) { return a + b; }));
    EXPECT_EQ(got, expected) << "grain " << grain;
  }
}

TEST(ParallelReduce, ChunkMapGivesEachPiecesPartialResult) {
  Runtime rt({.threads = 2, .io_threads = 1});
  long s = sync_wait(rt, parallel_reduce(
                             1, 1001, 10, 0L,
                             [](int b, int e) {
                               long part = 0;
                               for (int i = b; i < e; ++i) part += i;
                               return part;
                             },
                             [](long a, long b) { return a + b; }));
  EXPECT_EQ(s, 500500);
}

// With a fixed grain the combining tree is fixed, so a floating-point sum
// is bit-for-bit the same on every run and every pool size.
TEST(ParallelReduce, FloatingPointSumIsReproducibleAcrossRunsAndPoolSizes) {
  auto run = [](std::size_t threads) {
    Runtime rt({.threads = threads, .io_threads = 1});
    return sync_wait(
        rt, parallel_reduce(
                0, 100000, 37, 0.0, [](int i) { return 1.0 / (1.0 + i); }, [](double a, double b) { return a + b; }));
  };
  double one = run(1);
  for (std::size_t t : {2, 3, 4}) {
    for (int k = 0; k < 3; ++k) EXPECT_EQ(run(t), one) << "threads " << t;
  }
}

TEST(ParallelReduce, ErrorsInMapOrReduceAreRethrown) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto map_fails = parallel_reduce(
      0, 5000, 8, 0,
      [](int i) {
        if (i == 4321) throw std::out_of_range("map");
        return i;
      },
      [](int a, int b) { return a + b; });
  EXPECT_THROW(sync_wait(rt, std::move(map_fails)), std::out_of_range);
  std::atomic<int> combines{0};
  auto reduce_fails = parallel_reduce(
      0, 5000, 8, 0, [](int i) { return i; },
      [&](int a, int b) {
        if (combines.fetch_add(1) == 700) throw std::length_error("reduce");
        return a + b;
      });
  EXPECT_THROW(sync_wait(rt, std::move(reduce_fails)), std::length_error);
}

TEST(ParallelReduce, ContainerValuesMergeInOrder) {
  Runtime rt({.threads = 2, .io_threads = 1});
  // A vector per piece, merged in order.
  auto v = sync_wait(rt, parallel_reduce(
                             0, 300, 16, std::vector<int>(),
                             [](int b, int e) {
                               std::vector<int> part;
                               for (int i = b; i < e; ++i) part.push_back(i);
                               return part;
                             },
                             [](std::vector<int> a, std::vector<int> b) {
                               a.insert(a.end(), b.begin(), b.end());
                               return a;
                             }));
  ASSERT_EQ(v.size(), 300u);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(v[static_cast<std::size_t>(i)], i);
}

// Many reductions submitted at once share the pool; each result is right.
TEST(ParallelRange, StressManyConcurrentReductions) {
  Runtime rt({.threads = 4, .io_threads = 1});
  const int tasks = static_cast<int>(test::scaled(200, 20));
  std::vector<TaskHandle<long>> hs;
  for (int t = 0; t < tasks; ++t) {
    hs.push_back(rt.submit(parallel_reduce(
        0, 1000 + t, 1 + t % 17, 0L, [](int i) { return long(i); }, [](long a, long b) { return a + b; })));
  }
  for (int t = 0; t < tasks; ++t) {
    long n = 1000 + t;
    EXPECT_EQ(hs[static_cast<std::size_t>(t)].get(), n * (n - 1) / 2);
  }
}
