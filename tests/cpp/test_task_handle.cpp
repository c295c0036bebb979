// TaskHandle: ids, names, states, timestamps, get/wait/wait_for, cancel,
// co_await on a handle, and blocking waits on workers that never deadlock.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::Gate;
using dftracer::utils::test::wait_until;

TEST(TaskHandle, IdsAreUniqueAndIncreaseInSubmitOrder) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::vector<TaskHandle<int>> handles;
  for (int i = 0; i < 1000; ++i) handles.push_back(rt.submit([i] { return i; }));
  for (std::size_t i = 1; i < handles.size(); ++i) EXPECT_GT(handles[i].id(), handles[i - 1].id());
  EXPECT_GT(handles.front().id(), 0u);
}

TEST(TaskHandle, IdsAreUniqueAcrossConcurrentSubmitters) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::mutex mu;
  std::vector<std::uint64_t> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::uint64_t> mine;
      std::uint64_t last = 0;
      for (int i = 0; i < 2000; ++i) {
        auto h = rt.submit([] {});
        EXPECT_GT(h.id(), last);  // monotonic per submitter
        last = h.id();
        mine.push_back(h.id());
      }
      std::lock_guard lock(mu);
      ids.insert(ids.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "duplicate id";
  EXPECT_EQ(ids.size(), 8000u);
}

TEST(TaskHandle, EmptyNameBecomesTaskDashId) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto unnamed = rt.submit([] {});
  EXPECT_EQ(unnamed.name(), "task-" + std::to_string(unnamed.id()));
  auto named = rt.submit([] {}, "load_data");
  EXPECT_EQ(named.name(), "load_data");
  auto coro = rt.submit([]() -> Task<int> { co_return 1; });
  EXPECT_EQ(coro.name(), "task-" + std::to_string(coro.id()));
  rt.wait_all();
}

TEST(TaskHandle, StatusGoesQueuedRunningCompleted) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(); });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  auto queued = rt.submit([] { return 3; });
  EXPECT_EQ(blocker.status(), TaskStatus::running);
  EXPECT_EQ(queued.status(), TaskStatus::queued);
  EXPECT_FALSE(blocker.done());
  EXPECT_FALSE(queued.done());
  EXPECT_EQ(queued.state().start_ns(), 0);
  gate.open();
  EXPECT_EQ(queued.get(), 3);
  blocker.get();
  EXPECT_EQ(blocker.status(), TaskStatus::completed);
  EXPECT_EQ(queued.status(), TaskStatus::completed);
  EXPECT_TRUE(queued.done());
  EXPECT_EQ(queued.error(), nullptr);
}

TEST(TaskHandle, FailedTaskRethrowsItsOwnExceptionFromGet) {
  struct CustomError : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  Runtime rt({.threads = 1, .io_threads = 1});
  auto h = rt.submit([]() -> int { throw CustomError("bad input"); });
  h.wait();
  EXPECT_EQ(h.status(), TaskStatus::failed);
  ASSERT_NE(h.error(), nullptr);
  EXPECT_THROW(h.get(), CustomError);
  try {
    h.get();
  } catch (const CustomError& e) {
    EXPECT_STREQ(e.what(), "bad input");
  }
  auto coro = rt.submit([]() -> Task<void> {
    throw CustomError("coro");
    co_return;
  });
  EXPECT_THROW(coro.get(), CustomError);
  EXPECT_EQ(coro.status(), TaskStatus::failed);
}

TEST(TaskHandle, TimestampsAreOrderedSubmitStartEnd) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto h = rt.submit([] { std::this_thread::sleep_for(2ms); });
  h.wait();
  const TaskState& s = h.state();
  EXPECT_GT(s.submit_ns(), 0);
  EXPECT_LE(s.submit_ns(), s.start_ns());
  EXPECT_LT(s.start_ns(), s.end_ns());
  EXPECT_GE(s.end_ns() - s.start_ns(), std::chrono::nanoseconds(2ms).count());
  EXPECT_LE(s.end_ns(), now_ns());
}

TEST(TaskHandle, GetTwiceReturnsTheSameValueWithoutMovingIt) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto h = rt.submit([] { return std::vector<std::string>{"a", "long enough to live on the heap, not in SSO"}; });
  const auto& first = h.get();
  const auto& second = h.get();
  EXPECT_EQ(&first, &second);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[1], "long enough to live on the heap, not in SSO");
  auto copy = h;  // another handle sees the same value
  EXPECT_EQ(&copy.get(), &first);

  auto unique = rt.submit([] { return std::make_unique<int>(9); });
  const std::unique_ptr<int>& p1 = unique.get();
  const std::unique_ptr<int>& p2 = unique.get();
  ASSERT_TRUE(p2);
  EXPECT_EQ(p1.get(), p2.get());
  EXPECT_EQ(*p2, 9);
}

TEST(TaskHandle, WaitForTimesOutThenSucceeds) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto h = rt.submit([&] {
    gate.wait();
    return 1;
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(h.wait_for(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_FALSE(h.wait_for(0ms));
  EXPECT_FALSE(h.done());
  gate.open();
  EXPECT_TRUE(h.wait_for(30s));
  EXPECT_TRUE(h.wait_for(0ms));
  EXPECT_EQ(h.get(), 1);
}

TEST(TaskHandle, CancelledQueuedTaskNeverRunsAndGetThrows) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(); });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  std::atomic<bool> ran{false};
  auto victim = rt.submit([&] {
    ran = true;
    return 1;
  });
  EXPECT_TRUE(victim.cancel());
  EXPECT_EQ(victim.status(), TaskStatus::cancelled);
  EXPECT_TRUE(victim.done());
  EXPECT_FALSE(victim.cancel());  // already final
  EXPECT_THROW(victim.get(), TaskCancelledError);
  gate.open();
  rt.wait_all();
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(victim.status(), TaskStatus::cancelled);
  EXPECT_EQ(victim.state().start_ns(), 0);
}

TEST(TaskHandle, CancellingARunningTaskSetsItsCooperativeToken) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<bool> started{false};
  auto h = rt.submit([&] {
    started = true;
    EXPECT_FALSE(this_task::cancelled());
    int spins = 0;
    while (!this_task::cancelled()) {
      std::this_thread::sleep_for(100us);
      if (++spins > 100000) return -1;
    }
    return 7;
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  EXPECT_FALSE(h.cancel());  // already running: cannot be stopped outright
  EXPECT_TRUE(h.state().cancel_requested());
  EXPECT_EQ(h.get(), 7);  // the body saw the token and returned
  EXPECT_EQ(h.status(), TaskStatus::completed);
}

TEST(TaskHandle, CancelAfterCompletionChangesNothing) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto h = rt.submit([] { return 5; });
  EXPECT_EQ(h.get(), 5);
  EXPECT_FALSE(h.cancel());
  EXPECT_EQ(h.status(), TaskStatus::completed);
  EXPECT_EQ(h.get(), 5);
}

TEST(TaskHandle, ThisTaskIsTheRunningTaskAndNullOutside) {
  Runtime rt({.threads = 1, .io_threads = 1});
  EXPECT_EQ(this_task::current(), nullptr);
  EXPECT_FALSE(this_task::cancelled());
  auto h = rt.submit([] {
    this_task::report_progress(3, 10);
    return this_task::current()->id();
  });
  EXPECT_EQ(h.get(), h.id());
  EXPECT_EQ(h.state().completed_subtasks(), 3u);
  EXPECT_EQ(h.state().total_subtasks(), 10u);
}

TEST(TaskHandle, CoAwaitHandleYieldsValueOrRethrows) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Gate gate;
  auto slow = rt.submit([&] {
    gate.wait();
    return 40;
  });
  auto failing = rt.submit([]() -> int { throw std::runtime_error("nope"); });
  auto waiter = rt.submit([&]() -> Task<int> {
    int v = co_await slow;  // suspends: no thread blocked
    try {
      co_await failing;
    } catch (const std::runtime_error&) {
      v += 2;
    }
    co_return v;
  });
  // The awaiting task is suspended, not holding a worker: the other worker
  // is free to run more work meanwhile.
  auto other = rt.submit([] { return 1; });
  EXPECT_EQ(other.get(), 1);
  gate.open();
  EXPECT_EQ(waiter.get(), 42);
}

TEST(TaskHandle, CoAwaitOfADoneHandleDoesNotSuspend) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto done = rt.submit([] { return std::string("ready"); });
  done.wait();
  auto h = rt.submit([&]() -> Task<std::string> { co_return co_await done; });
  EXPECT_EQ(h.get(), "ready");
}

TEST(TaskHandle, CoAwaitOfACancelledHandleThrowsTaskCancelledError) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(); });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  auto victim = rt.submit([] { return 1; });
  ASSERT_TRUE(victim.cancel());
  auto h = rt.submit([&]() -> Task<bool> {
    try {
      co_await victim;
    } catch (const TaskCancelledError&) {
      co_return true;
    }
    co_return false;
  });
  gate.open();
  EXPECT_TRUE(h.get());
}

// ---- Blocking waits on workers never deadlock the pool ----------------------

namespace {
int nested_get(Runtime& rt, int depth) {
  if (depth == 0) return 0;
  auto h = rt.submit([&rt, depth] { return nested_get(rt, depth - 1); });
  return h.get() + 1;
}
}  // namespace

TEST(BlockingWait, NestedGetWithOneThreadDoesNotDeadlock) {
  Runtime rt({.threads = 1, .io_threads = 1});
  // Each level submits the next and blocks in get(); every level is queued
  // behind its waiter on the only worker, so it must run inline.
  const int depth = 1000;
  auto h = rt.submit([&] { return nested_get(rt, depth); });
  EXPECT_EQ(h.get(), depth);
  EXPECT_EQ(rt.registry().totals().completed, static_cast<std::uint64_t>(depth) + 1);
}

TEST(BlockingWait, NestedGetOfCoroutineTasksWithOneThreadDoesNotDeadlock) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::function<Task<int>(int)> level = [&](int depth) -> Task<int> {
    if (depth == 0) co_return 0;
    auto h = rt.submit(level(depth - 1));
    co_return h.get() + 1;
  };
  EXPECT_EQ(sync_wait(rt, level(1000)), 1000);
}

// With two workers the idle one steals levels of the chain, so many levels
// cannot run inline and block instead: spares keep it going.
TEST(BlockingWait, NestedGetWithStealingOnTwoThreadsDoesNotDeadlock) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::vector<TaskHandle<int>> roots;
  for (int i = 0; i < 3; ++i) roots.push_back(rt.submit([&] { return nested_get(rt, 1000); }));
  for (auto& h : roots) EXPECT_EQ(h.get(), 1000);
}

// The awaited task is already running on another thread, so the waiter
// cannot run it inline. With one worker it can only finish if the pool
// starts a spare worker while the waiter is blocked.
TEST(BlockingWait, WaitOnATaskThatNeedsAnotherWorkerStartsASpare) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto a = rt.submit([&] {
    // C sits in our own deque; B, on the I/O pool, waits for C. Our wait on
    // B cannot run B here (another pool), and B's cannot run C there: only a
    // second compute worker can, started because we block.
    auto c = rt.submit([] { return 2; });
    auto b = rt.submit([&c] { return c.get() * 10; }, "b", Pool::io);
    for (int i = 0; i < 4000 && !b.wait_for(5ms); ++i) {}
    return b.get();
  });
  EXPECT_EQ(a.get(), 20);
  EXPECT_GE(rt.compute().temporary_workers_started(), 1u);
  EXPECT_TRUE(wait_until([&] { return rt.compute().live_threads() == 1u; }, 10s)) << "spare did not retire";
}

TEST(BlockingWait, WaitWithATimeoutRunsAStillQueuedTaskInline) {
  // A chain of get(timeout) on one worker: each level's task is still queued
  // in our deque, so the wait runs it here instead of waiting for a spare
  // (there may be none to spare) until the timeout fires.
  Runtime rt({.threads = 1, .io_threads = 1, .max_temporary_workers = 0});
  std::function<int(int)> level = [&](int depth) -> int {
    if (depth == 0) return 0;
    auto h = rt.submit([&level, depth] { return level(depth - 1); });
    if (!h.wait_for(60s)) return -1000000;
    return h.get() + 1;
  };
  auto top = rt.submit([&] { return level(300); });
  EXPECT_TRUE(top.wait_for(30s)) << "a deep chain of timed waits stalled";
  EXPECT_EQ(top.get(), 300);
  EXPECT_EQ(rt.compute().temporary_workers_started(), 0u);
}

TEST(BlockingWait, GetOnASuspendedCoroutineTaskStartsASpare) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto a = rt.submit([&] {
    // B starts inline in our get(), then yields: its continuation sits in
    // the injection queue and our only worker is blocked in get().
    auto b = rt.submit([]() -> Task<int> {
      co_await yield_now();
      co_return 5;
    });
    return b.get();
  });
  EXPECT_EQ(a.get(), 5);
  EXPECT_GE(rt.compute().temporary_workers_started(), 1u);
}

TEST(BlockingWait, IoTaskWaitingOnComputeTaskCompletes) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto io = rt.submit(
      [&] {
        auto c = rt.submit([] { return 3; });
        return c.get() * 2;
      },
      "io-waits", Pool::io);
  EXPECT_EQ(io.get(), 6);
}

TEST(BlockingWait, ManyWorkersBlockedAtOnceAllComplete) {
  Runtime rt({.threads = 2, .io_threads = 1});
  // 16 tasks block in wait() on one coroutine task that only finishes once
  // all 16 are waiting: the pool must add a spare for each blocked worker.
  constexpr int n = 16;
  std::atomic<int> waiting{0};
  auto release = rt.submit([&]() -> Task<int> {
    for (int spins = 0; waiting.load() < n && spins < 2000000; ++spins) co_await yield_now();
    co_return waiting.load();
  });
  std::vector<TaskHandle<int>> waiters;
  for (int i = 0; i < n; ++i) {
    waiters.push_back(rt.submit([&] {
      waiting.fetch_add(1);
      return release.get();
    }));
  }
  for (auto& h : waiters) EXPECT_EQ(h.get(), n);
  EXPECT_GE(rt.compute().temporary_workers_started(), 1u);
}

TEST(TaskHandle, CoroutineSeesItsOwnTaskAfterSuspendingOnAnotherPool) {
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = [&]() -> Task<bool> {
    TaskState* before = co_await this_task::owner();
    started = true;
    co_await on_io();  // resumed on another pool's thread
    while (!go.load()) co_await yield_now();
    TaskState* after = co_await this_task::owner();
    co_return before != nullptr&& before == after && after->cancel_requested();
  };
  auto h = rt.submit(body(), "owner-probe");
  ASSERT_TRUE(test::wait_until([&] { return started.load(); }));
  EXPECT_FALSE(h.cancel());  // running: only the cooperative token is set
  go = true;
  EXPECT_TRUE(h.get());
  EXPECT_EQ(h.name(), "owner-probe");
}

TEST(TaskHandle, AwaitedAndSpawnedChildrenShareTheirTasksOwner) {
  Runtime rt({.threads = 2});
  auto inner = []() -> Task<TaskState*> { co_return co_await this_task::owner(); };
  auto outer = [&]() -> Task<bool> {
    TaskState* mine = co_await this_task::owner();
    TaskState* awaited = co_await inner();
    JoinHandle<TaskState*> spawned = co_await spawn(inner());
    TaskState* joined = co_await std::move(spawned);
    co_return mine != nullptr&& awaited == mine&& joined == mine;
  };
  EXPECT_TRUE(sync_wait(rt, outer()));
}
