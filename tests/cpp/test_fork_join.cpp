// Fork-join inside tasks: spawn/join, when_all (vector and variadic),
// when_all_settled, detached children, yield_now, and hops between pools.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "fib.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::wait_until;

using test::fib;
using test::fib_seq;

namespace {

Task<int> value(int v) { co_return v; }

Task<int> fail_with(std::string what) {
  throw std::runtime_error(what);
  co_return 0;
}

// Counts how many frames holding it were destroyed: a coroutine parameter
// lives in the frame, so its destructor runs exactly when the frame is freed.
struct FrameTracker {
  std::atomic<int>* freed;
  explicit FrameTracker(std::atomic<int>* f) : freed(f) {}
  FrameTracker(FrameTracker&& o) noexcept : freed(std::exchange(o.freed, nullptr)) {}
  ~FrameTracker() {
    if (freed) freed->fetch_add(1);
  }
};

}  // namespace

class ForkJoinFib : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ForkJoinFib, ResultIsCorrectOnAnyThreadCount) {
  Runtime rt({.threads = GetParam(), .io_threads = 1});
  const int n = test::kUnderSanitizer ? 18 : 24;
  EXPECT_EQ(sync_wait(rt, fib(n)), fib_seq(n));
  EXPECT_EQ(sync_wait(rt, fib(1)), 1u);
  EXPECT_EQ(sync_wait(rt, fib(0)), 0u);
}
INSTANTIATE_TEST_SUITE_P(Threads, ForkJoinFib, ::testing::Values(1, 2, 3, 8));

TEST(ForkJoin, SpawnedChildExceptionIsRethrownAtJoin) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = []() -> Task<int> {
    JoinHandle<int> h = co_await spawn(fail_with("child failed"));
    try {
      co_await std::move(h);
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what()) == "child failed" ? 1 : 2;
    }
    co_return 0;
  };
  EXPECT_EQ(sync_wait(rt, body()), 1);
}

TEST(ForkJoin, SpawnCarriesMoveOnlyResults) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = []() -> Task<int> {
    auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(5); };
    JoinHandle<std::unique_ptr<int>> h = co_await spawn(make());
    std::unique_ptr<int> p = co_await std::move(h);
    co_return *p;
  };
  EXPECT_EQ(sync_wait(rt, body()), 5);
}

TEST(ForkJoin, SpawnOffThePoolThrowsLogicError) {
  auto body = []() -> Task<int> {
    JoinHandle<int> h = co_await spawn(value(1));
    co_return co_await std::move(h);
  };
  Task<int> t = body();
  // Drive the coroutine by hand on this (non-worker) thread.
  t.handle().resume();
  ASSERT_TRUE(t.handle().done());
  EXPECT_THROW(t.handle().promise().take(), std::logic_error);
}

TEST(ForkJoin, WhenAllVectorReturnsValuesInArgumentOrder) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = []() -> Task<std::vector<int>> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 100; ++i) tasks.push_back(value(i));
    co_return co_await when_all(std::move(tasks));
  };
  std::vector<int> out = sync_wait(rt, body());
  ASSERT_EQ(out.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i);
}

TEST(ForkJoin, WhenAllOfNothingIsEmpty) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto body = []() -> Task<std::size_t> {
    auto out = co_await when_all(std::vector<Task<int>>{});
    co_await when_all(std::vector<Task<void>>{});
    co_return out.size();
  };
  EXPECT_EQ(sync_wait(rt, body()), 0u);
}

TEST(ForkJoin, WhenAllVectorOfVoidRunsEveryTask) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> ran{0};
  auto body = [&ran]() -> Task<void> {
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 50; ++i) {
      tasks.push_back([](std::atomic<int>& r) -> Task<void> {
        r.fetch_add(1);
        co_return;
      }(ran));
    }
    co_await when_all(std::move(tasks));
  };
  sync_wait(rt, body());
  EXPECT_EQ(ran.load(), 50);
}

TEST(ForkJoin, WhenAllVariadicMixesTypesAndVoid) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<bool> void_ran{false};
  auto body = [&void_ran]() -> Task<std::tuple<int, std::monostate, std::string>> {
    auto side = [](std::atomic<bool>& f) -> Task<void> {
      f = true;
      co_return;
    };
    auto text = []() -> Task<std::string> { co_return "text"; };
    co_return co_await when_all(value(7), side(void_ran), text());
  };
  auto [i, nothing, s] = sync_wait(rt, body());
  (void)nothing;
  EXPECT_EQ(i, 7);
  EXPECT_EQ(s, "text");
  EXPECT_TRUE(void_ran.load());
}

// Every task runs to the end even when some fail; the first failure in
// argument order is rethrown, and when_all_settled shows all of them.
TEST(ForkJoin, WhenAllWaitsForEveryTaskAndRethrowsTheFirstError) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> finished{0};
  auto slow_ok = [](std::atomic<int>& f) -> Task<int> {
    co_await yield_now();
    f.fetch_add(1);
    co_return 1;
  };
  auto slow_fail = [](std::atomic<int>& f, std::string what) -> Task<int> {
    co_await yield_now();
    f.fetch_add(1);
    throw std::runtime_error(what);
  };
  auto body = [&]() -> Task<std::string> {
    std::vector<Task<int>> tasks;
    tasks.push_back(slow_ok(finished));
    tasks.push_back(slow_fail(finished, "first"));
    tasks.push_back(slow_ok(finished));
    tasks.push_back(slow_fail(finished, "second"));
    tasks.push_back(slow_fail(finished, "third"));  // the one run inline
    try {
      co_await when_all(std::move(tasks));
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(sync_wait(rt, body()), "first");
  EXPECT_EQ(finished.load(), 5);
}

TEST(ForkJoin, WhenAllSettledKeepsEveryOutcome) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = []() -> Task<std::vector<Outcome<int>>> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value(1));
    tasks.push_back(fail_with("a"));
    tasks.push_back(value(3));
    tasks.push_back(fail_with("b"));
    co_return co_await when_all_settled(std::move(tasks));
  };
  auto out = sync_wait(rt, body());
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(*out[0].value, 1);
  EXPECT_FALSE(out[1].ok());
  EXPECT_FALSE(out[1].value.has_value());
  EXPECT_TRUE(out[2].ok());
  EXPECT_EQ(*out[2].value, 3);
  ASSERT_FALSE(out[3].ok());
  auto message = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error& err) {
      return std::string(err.what());
    }
  };
  EXPECT_EQ(message(out[1].error), "a");
  EXPECT_EQ(message(out[3].error), "b");
}

TEST(ForkJoin, WhenAllVariadicWaitsForAllAndRethrowsTheFirst) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> finished{0};
  auto late_ok = [](std::atomic<int>& f) -> Task<int> {
    co_await yield_now();
    co_await yield_now();
    f.fetch_add(1);
    co_return 1;
  };
  auto body = [&]() -> Task<std::string> {
    try {
      co_await when_all(late_ok(finished), fail_with("one"), fail_with("two"), late_ok(finished));
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(sync_wait(rt, body()), "one");
  EXPECT_EQ(finished.load(), 2);
}

// A dropped JoinHandle detaches the child: it still runs to the end and then
// frees its own frame.
TEST(ForkJoin, DetachedChildStillRunsAndFreesItsFrame) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> ran{0};
  std::atomic<int> freed{0};
  auto child = [](std::atomic<int>& r, FrameTracker) -> Task<void> {
    co_await yield_now();
    co_await yield_now();
    r.fetch_add(1);
  };
  auto body = [&]() -> Task<void> {
    for (int i = 0; i < 100; ++i) {
      JoinHandle<void> h = co_await spawn(child(ran, FrameTracker(&freed)));
      (void)h;  // dropped unjoined
    }
  };
  sync_wait(rt, body());
  ASSERT_TRUE(wait_until([&] { return freed.load() == 100; }, 10s)) << freed.load();
  EXPECT_EQ(ran.load(), 100);
}

TEST(ForkJoin, DetachingAFinishedChildFreesItAtOnce) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<int> freed{0};
  auto child = [](FrameTracker) -> Task<int> { co_return 1; };
  auto body = [&]() -> Task<int> {
    JoinHandle<int> h = co_await spawn(child(FrameTracker(&freed)));
    // With one thread the child runs only when we let it: yield, and it is
    // done before we drop the handle.
    while (!h.done()) co_await yield_now();
    { JoinHandle<int> dropped = std::move(h); }
    co_return freed.load();
  };
  EXPECT_EQ(sync_wait(rt, body()), 1);
}

TEST(ForkJoin, JoinedChildFrameIsFreedWithItsHandle) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> freed{0};
  auto child = [](FrameTracker) -> Task<int> { co_return 2; };
  auto body = [&]() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 50; ++i) {
      JoinHandle<int> h = co_await spawn(child(FrameTracker(&freed)));
      sum += co_await std::move(h);
    }
    co_return sum;
  };
  EXPECT_EQ(sync_wait(rt, body()), 100);
  EXPECT_EQ(freed.load(), 50);
}

// One worker: nobody can steal, so every join takes the fast path (pop the
// child back and run it inline). The child has not run before the join, the
// result arrives, and the frame is freed by the join itself.
TEST(ForkJoin, JoinOfAnUnstolenChildRunsItInlineAndFreesItsFrame) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<int> freed{0};
  std::atomic<int> ran{0};
  auto child = [](std::atomic<int>& r, FrameTracker, int v) -> Task<int> {
    r.fetch_add(1);
    co_return v;
  };
  auto body = [&]() -> Task<int> {
    JoinHandle<int> h = co_await spawn(child(ran, FrameTracker(&freed), 5));
    int before = ran.load();  // 0: still queued
    int got = co_await std::move(h);
    int freed_after_join = freed.load();  // 1 although `h` is still in scope
    co_return before * 100 + got * 10 + freed_after_join;
  };
  EXPECT_EQ(sync_wait(rt, body()), 51);
  EXPECT_EQ(freed.load(), 1);
}

TEST(ForkJoin, ExceptionOfAnInlineJoinedChildIsRethrownAndItsFrameFreed) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<int> freed{0};
  auto child = [](FrameTracker) -> Task<int> {
    throw std::runtime_error("inline boom");
    co_return 0;
  };
  auto body = [&]() -> Task<std::string> {
    JoinHandle<int> h = co_await spawn(child(FrameTracker(&freed)));
    try {
      (void)co_await std::move(h);
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what()) + " freed=" + std::to_string(freed.load());
    }
    co_return "no exception";
  };
  EXPECT_EQ(sync_wait(rt, body()), "inline boom freed=1");
}

// Joining an older child first: it is not at the bottom of the deque, so the
// join waits (slow path) while the worker runs the newer one; the newer one
// is then already done when joined.
TEST(ForkJoin, JoiningOutOfSpawnOrderOnOneThreadCompletes) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<int> freed{0};
  auto child = [](FrameTracker, int v) -> Task<int> { co_return v; };
  auto body = [&]() -> Task<int> {
    JoinHandle<int> a = co_await spawn(child(FrameTracker(&freed), 1));
    JoinHandle<int> b = co_await spawn(child(FrameTracker(&freed), 20));
    JoinHandle<int> c = co_await spawn(fail_with("c failed"));
    int sum = co_await std::move(a);
    sum += co_await std::move(b);
    try {
      sum += co_await std::move(c);
    } catch (const std::runtime_error&) {
      sum += 300;
    }
    co_return sum;
  };
  EXPECT_EQ(sync_wait(rt, body()), 321);
  EXPECT_EQ(freed.load(), 2);
}

// Two workers: the parent spins (without suspending) until the other worker
// has stolen the child and started it, so the join must take the slow path:
// either the child is still running (the parent parks its frame address and
// the child resumes it) or it is already done.
TEST(ForkJoin, JoinOfAStolenChildWaitsForItOnAnotherWorker) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> freed{0};
  for (bool finish_first : {false, true}) {
    std::atomic<bool> started{false};
    std::atomic<bool> release{false};
    std::atomic<bool> stolen{false};
    auto child = [](std::atomic<bool>& s, std::atomic<bool>& rel, FrameTracker, bool fail) -> Task<std::thread::id> {
      s.store(true);
      // Bounded: if the child was not stolen it runs inline after the
      // parent gave up waiting, with `rel` already set.
      wait_until([&] { return rel.load(); }, 10s);
      if (fail) throw std::runtime_error("stolen boom");
      co_return std::this_thread::get_id();
    };
    auto body = [&](bool fail) -> Task<std::thread::id> {
      started = false;
      release = false;
      JoinHandle<std::thread::id> h = co_await spawn(child(started, release, FrameTracker(&freed), fail));
      stolen = wait_until([&] { return started.load(); }, 10s);
      if (!finish_first) release = true;  // the child finishes while we join
      auto parent_thread = std::this_thread::get_id();
      if (finish_first) {
        release = true;
        wait_until([&] { return h.done(); }, 10s);
      }
      std::thread::id child_thread = co_await std::move(h);
      if (stolen) EXPECT_NE(child_thread, parent_thread);
      co_return child_thread;
    };
    sync_wait(rt, body(false));
    bool stolen_once = stolen;
    EXPECT_THROW(sync_wait(rt, body(true)), std::runtime_error);
    if (!stolen_once || !stolen) GTEST_SKIP() << "the second worker never stole the child (machine too busy)";
  }
  EXPECT_EQ(freed.load(), 4);
}

// A child spawned, then left unjoined while newer children are joined
// inline, still runs and frees itself; detaching does not confuse the fast
// path of its siblings.
TEST(ForkJoin, DetachedChildBelowInlineJoinedSiblingsStillRuns) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<int> freed{0};
  std::atomic<int> ran{0};
  auto child = [](std::atomic<int>& r, FrameTracker) -> Task<int> {
    r.fetch_add(1);
    co_return 1;
  };
  auto body = [&]() -> Task<int> {
    int sum = 0;
    {
      JoinHandle<int> detached = co_await spawn(child(ran, FrameTracker(&freed)));
      for (int i = 0; i < 10; ++i) {
        JoinHandle<int> h = co_await spawn(child(ran, FrameTracker(&freed)));
        sum += co_await std::move(h);
      }
    }  // dropped unjoined, still queued
    co_return sum;
  };
  EXPECT_EQ(sync_wait(rt, body()), 10);
  ASSERT_TRUE(wait_until([&] { return freed.load() == 11; }, 10s)) << freed.load();
  EXPECT_EQ(ran.load(), 11);
}

// A child that suspends (yield_now) and comes back through the injection
// queue into our deque may be at the bottom again when joined: taking it
// back resumes it mid-way, which is as correct as any other resumption.
TEST(ForkJoin, JoinOfAChildThatYieldedCompletes) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto child = [](int v) -> Task<int> {
    co_await yield_now();
    co_await yield_now();
    co_return v;
  };
  auto body = [&]() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 20; ++i) {
      JoinHandle<int> a = co_await spawn(child(i));
      JoinHandle<int> b = co_await spawn(child(100));
      co_await yield_now();
      sum += co_await std::move(b);
      sum += co_await std::move(a);
    }
    co_return sum;
  };
  EXPECT_EQ(sync_wait(rt, body()), 20 * 100 + 190);
}

// The fast path runs the child inside the join; if the child suspends there
// (yield_now, or a join of a stolen grandchild), the parent parks and the
// child resumes it when it finishes later from the worker loop.
TEST(ForkJoin, InlineJoinedChildThatSuspendsInsideResumesItsParentLater) {
  for (std::size_t threads : {1u, 2u}) {
    Runtime rt({.threads = threads, .io_threads = 1});
    std::atomic<int> freed{0};
    auto child = [](FrameTracker, int v) -> Task<int> {
      co_await yield_now();
      co_await yield_now();
      co_return v;
    };
    auto failing = []() -> Task<int> {
      co_await yield_now();
      throw std::runtime_error("after yield");
    };
    auto body = [&]() -> Task<int> {
      int sum = 0;
      for (int i = 0; i < 50; ++i) {
        JoinHandle<int> h = co_await spawn(child(FrameTracker(&freed), i));
        sum += co_await std::move(h);
        JoinHandle<int> f = co_await spawn(failing());
        try {
          sum += co_await std::move(f);
        } catch (const std::runtime_error&) {
          sum += 1000;
        }
      }
      co_return sum;
    };
    EXPECT_EQ(sync_wait(rt, body()), 50 * 1000 + 49 * 50 / 2) << threads << " threads";
    EXPECT_EQ(freed.load(), 50);
  }
}

// Each inline join runs the child in a nested call that returns before the
// next one: a parent that joins many children in a row, never suspending,
// must not grow the stack (it did with symmetric transfer where that is not
// a tail call, as in sanitizer builds).
TEST(ForkJoin, ManyInlineJoinsInARowDoNotGrowTheStack) {
  Runtime rt({.threads = 1, .io_threads = 1});
  const int n = static_cast<int>(test::scaled(200000, 50000));
  auto body = [&]() -> Task<std::uint64_t> {
    std::uint64_t sum = 0;
    for (int i = 0; i < n; ++i) {
      JoinHandle<int> h = co_await spawn(value(1));
      sum += static_cast<std::uint64_t>(co_await std::move(h));
    }
    co_return sum;
  };
  EXPECT_EQ(sync_wait(rt, body()), static_cast<std::uint64_t>(n));
}

// With a single worker, a spawned child only runs if the parent yields.
TEST(ForkJoin, YieldNowLetsOtherQueuedWorkRun) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<bool> child_ran{false};
  auto body = [&]() -> Task<int> {
    auto child = [](std::atomic<bool>& f) -> Task<void> {
      f = true;
      co_return;
    };
    JoinHandle<void> h = co_await spawn(child(child_ran));
    int yields = 0;
    while (!child_ran.load()) {
      co_await yield_now();
      if (++yields > 1000) break;
    }
    co_await std::move(h);
    co_return yields;
  };
  int yields = sync_wait(rt, body());
  EXPECT_TRUE(child_ran.load());
  EXPECT_GE(yields, 1);
  EXPECT_LE(yields, 1000);
}

TEST(ForkJoin, YieldNowLetsOtherSubmittedTasksRunOnOneThread) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<bool> other_ran{false};
  auto body = [&]() -> Task<bool> {
    // Submitted from the worker: it sits in our deque until we yield.
    auto other = Runtime::current()->submit([&] { other_ran = true; });
    for (int i = 0; i < 1000 && !other.done(); ++i) co_await yield_now();
    co_return other.done();
  };
  EXPECT_TRUE(sync_wait(rt, body()));
  EXPECT_TRUE(other_ran.load());
}

TEST(ForkJoin, OnIoAndOnComputeHopBetweenPools) {
  Runtime rt({.threads = 2, .io_threads = 2});
  struct Seen {
    Executor* start = nullptr;
    Executor* on_io = nullptr;
    Executor* still_io = nullptr;
    Executor* back = nullptr;
    std::thread::id io_thread, compute_thread, io_thread_again;
  };
  auto body = [](Runtime& r) -> Task<Seen> {
    Seen s;
    s.start = Executor::current();
    co_await on_io();
    s.on_io = Executor::current();
    s.io_thread = std::this_thread::get_id();
    co_await on_io(&r);  // already there: no hop
    s.still_io = Executor::current();
    s.io_thread_again = std::this_thread::get_id();
    co_await on_compute();
    s.back = Executor::current();
    s.compute_thread = std::this_thread::get_id();
    co_return s;
  };
  Seen s = sync_wait(rt, body(rt));
  EXPECT_EQ(s.start, &rt.compute());
  EXPECT_EQ(s.on_io, &rt.io());
  EXPECT_EQ(s.still_io, &rt.io());
  EXPECT_EQ(s.io_thread_again, s.io_thread);
  EXPECT_EQ(s.back, &rt.compute());
  EXPECT_NE(s.io_thread, s.compute_thread);
  EXPECT_EQ(rt.io_threads(), 2u);
}

TEST(ForkJoin, TaskSubmittedToIoPoolRunsThere) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto h = rt.submit([] { return Executor::current(); }, "on-io", Pool::io);
  EXPECT_EQ(h.get(), &rt.io());
  auto c = rt.submit([] { return Executor::current(); });
  EXPECT_EQ(c.get(), &rt.compute());
}

TEST(ForkJoin, PoolHopOffTheRuntimeNeedsAnExplicitRuntime) {
  auto body = []() -> Task<void> { co_await on_io(); };
  Task<void> t = body();
  t.handle().resume();
  ASSERT_TRUE(t.handle().done());
  EXPECT_THROW(t.handle().promise().take(), std::logic_error);
}

TEST(ForkJoin, DeepSpawnTreeOnOneThreadCompletes) {
  Runtime rt({.threads = 1, .io_threads = 1});
  // Spawned children are queued, not nested on the stack: a wide, deep
  // fan-out on one thread must not overflow anything.
  std::function<Task<std::uint64_t>(int)> tree = [&](int depth) -> Task<std::uint64_t> {
    if (depth == 0) co_return 1;
    std::vector<Task<std::uint64_t>> kids;
    for (int i = 0; i < 4; ++i) kids.push_back(tree(depth - 1));
    auto counts = co_await when_all(std::move(kids));
    std::uint64_t sum = 0;
    for (auto c : counts) sum += c;
    co_return sum;
  };
  EXPECT_EQ(sync_wait(rt, tree(6)), 4096u);
}

TEST(ForkJoin, WhenAllSettledVariadicKeepsEveryOutcome) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto nothing = []() -> Task<void> { co_return; };
  auto failing_void = []() -> Task<void> {
    co_await yield_now();
    throw std::logic_error("void failed");
  };
  auto body = [&]() -> Task<std::tuple<Outcome<int>, Outcome<void>, Outcome<int>, Outcome<void>>> {
    co_return co_await when_all_settled(value(4), nothing(), fail_with("int failed"), failing_void());
  };
  auto [a, b, c, d] = sync_wait(rt, body());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a.value, 4);
  EXPECT_TRUE(b.ok());
  ASSERT_FALSE(c.ok());
  EXPECT_THROW(std::rethrow_exception(c.error), std::runtime_error);
  ASSERT_FALSE(d.ok());
  EXPECT_THROW(std::rethrow_exception(d.error), std::logic_error);
}
