// Task<T>: laziness, symmetric transfer, exceptions, move-only results.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <thread>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;

namespace {
Task<int> answer() { co_return 42; }
Task<int> add_one(int x) { co_return x + 1; }
Task<int> chain(int depth) {
  if (depth == 0) co_return 0;
  int v = co_await chain(depth - 1);
  co_return v + 1;
}
Task<void> thrower() {
  throw std::runtime_error("boom");
  co_return;
}
Task<std::unique_ptr<int>> make_unique_value() { co_return std::make_unique<int>(7); }
}  // namespace

TEST(Task, IsLazyUntilAwaited) {
  bool started = false;
  // The closure must outlive the coroutine: it holds the captures.
  auto body = [&]() -> Task<void> {
    started = true;
    co_return;
  };
  auto t = body();
  EXPECT_FALSE(started);
  Runtime rt({.threads = 1});
  sync_wait(rt, std::move(t));
  EXPECT_TRUE(started);
}

TEST(Task, AwaitReturnsValue) {
  Runtime rt({.threads = 1});
  EXPECT_EQ(sync_wait(rt, add_one(41)), 42);
  EXPECT_EQ(sync_wait(rt, answer()), 42);
}

TEST(Task, DeepAwaitChainDoesNotGrowTheStack) {
  Runtime rt({.threads = 1});
  // 100k nested awaits would overflow an 8 MB stack without symmetric
  // transfer. Sanitizer builds (-O1) do not turn the transfer into a tail
  // call, so there the chain is shorter.
  const int depth = dftracer::utils::test::kUnderSanitizer ? 2000 : 100000;
  EXPECT_EQ(sync_wait(rt, chain(depth)), depth);
}

TEST(Task, ExceptionPropagatesToAwaiter) {
  Runtime rt({.threads = 1});
  auto outer = []() -> Task<int> {
    try {
      co_await thrower();
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what()) == "boom" ? 1 : 2;
    }
    co_return 0;
  };
  EXPECT_EQ(sync_wait(rt, outer()), 1);
  EXPECT_THROW(sync_wait(rt, thrower()), std::runtime_error);
}

TEST(Task, MoveOnlyResult) {
  Runtime rt({.threads = 1});
  std::unique_ptr<int> p = sync_wait(rt, make_unique_value());
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 7);
}

TEST(Task, UnstartedTaskIsDestroyedWithoutRunning) {
  int runs = 0;
  {
    auto body = [&]() -> Task<void> {
      ++runs;
      co_return;
    };
    auto t = body();
  }
  EXPECT_EQ(runs, 0);
}

TEST(FramePool, FreedFramesAreReusedOnTheSameThread) {
  using dftracer::utils::detail::FramePool;
  void* a = FramePool::allocate(100);
  FramePool::deallocate(a, 100);
  // Same 64-byte class (65..128): the frame just freed comes back.
  void* b = FramePool::allocate(120);
  EXPECT_EQ(a, b);
  FramePool::deallocate(b, 120);
  // Frames above the pooled sizes go straight to the heap and back.
  void* big = FramePool::allocate(64 * 1024);
  ASSERT_NE(big, nullptr);
  FramePool::deallocate(big, 64 * 1024);
}

TEST(FramePool, AFrameFreedOnAnotherThreadJoinsThatThreadsPool) {
  using dftracer::utils::detail::FramePool;
  void* a = FramePool::allocate(200);
  void* reused = nullptr;
  std::thread([&] {
    FramePool::deallocate(a, 200);
    reused = FramePool::allocate(200);  // from this thread's list now
    FramePool::deallocate(reused, 200);
  }).join();
  EXPECT_EQ(reused, a);
}
