// TaskScope / with_task_scope: join waits for every child (also children
// spawned by children), the first error is rethrown only after all are
// joined, the stop token is requested on it, frames are freed by the time
// join returns, the scope is reusable, and a scope destroyed unjoined
// asserts in debug builds and detaches safely in release builds.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using dftracer::utils::test::wait_until;

namespace {

struct FrameTracker {
  std::shared_ptr<std::atomic<int>> freed;
  explicit FrameTracker(std::shared_ptr<std::atomic<int>> f) : freed(std::move(f)) {}
  FrameTracker(FrameTracker&& o) noexcept : freed(std::move(o.freed)) {}
  ~FrameTracker() {
    if (freed) freed->fetch_add(1);
  }
};

Task<void> bump_after(std::atomic<int>& counter, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield_now();
  counter.fetch_add(1);
}

}  // namespace

TEST(TaskScope, JoinWaitsForEveryChild) {
  Runtime rt({.threads = 4, .io_threads = 1});
  std::atomic<int> done{0};
  auto body = [&]() -> Task<int> {
    TaskScope scope;
    for (int i = 0; i < 50; ++i) co_await scope.spawn(bump_after(done, i % 7));
    co_await scope.join();
    EXPECT_EQ(scope.pending(), 0u);
    co_return done.load();
  };
  EXPECT_EQ(sync_wait(rt, body()), 50);
}

TEST(TaskScope, ChildResultsAreDiscardedAndAnyResultTypeIsAccepted) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> ran{0};
  auto body = [&]() -> Task<void> {
    TaskScope scope;
    co_await scope.spawn([](std::atomic<int>& r) -> Task<std::string> {
      r.fetch_add(1);
      co_return "ignored";
    }(ran));
    co_await scope.spawn([](std::atomic<int>& r) -> Task<std::unique_ptr<int>> {
      r.fetch_add(1);
      co_return std::make_unique<int>(1);
    }(ran));
    co_await scope.join();
  };
  sync_wait(rt, body());
  EXPECT_EQ(ran.load(), 2);
}

TEST(TaskScope, FirstErrorIsRethrownOnlyAfterAllChildrenFinishedAndStopIsRequested) {
  Runtime rt({.threads = 4, .io_threads = 1});
  std::atomic<int> finished{0}, saw_stop{0};
  auto failing = [](std::atomic<int>& f) -> Task<void> {
    f.fetch_add(1);
    throw std::runtime_error("first");
    co_return;
  };
  auto patient = [](std::stop_token tok, std::atomic<int>& f, std::atomic<int>& s) -> Task<void> {
    while (!tok.stop_requested()) co_await yield_now();
    s.fetch_add(1);
    for (int i = 0; i < 20; ++i) co_await yield_now();  // still finishing after the error
    f.fetch_add(1);
  };
  auto body = [&]() -> Task<std::string> {
    TaskScope scope;
    for (int i = 0; i < 3; ++i) co_await scope.spawn(patient(scope.stop_token(), finished, saw_stop));
    co_await scope.spawn(failing(finished));
    try {
      co_await scope.join();
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(finished.load(), 4);  // every child ended before the rethrow
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(sync_wait(rt, body()), "first");
  EXPECT_EQ(saw_stop.load(), 3);
}

TEST(TaskScope, OnlyTheFirstOfSeveralErrorsSurfaces) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = []() -> Task<int> {
    TaskScope scope;
    for (int i = 0; i < 10; ++i) {
      co_await scope.spawn([](int k) -> Task<void> {
        throw std::runtime_error("child " + std::to_string(k));
        co_return;
      }(i));
    }
    int caught = 0;
    try {
      co_await scope.join();
    } catch (const std::runtime_error&) {
      ++caught;
    }
    co_return caught;
  };
  EXPECT_EQ(sync_wait(rt, body()), 1);
}

TEST(TaskScope, ChildrenMaySpawnSiblingsAndJoinWaitsForThemToo) {
  Runtime rt({.threads = 4, .io_threads = 1});
  std::atomic<int> leaves{0};
  // A tree of depth 6, fan-out 3, every node a scope child.
  struct Tree {
    static Task<void> node(TaskScope& scope, std::atomic<int>& leaves, int depth) {
      if (depth == 0) {
        leaves.fetch_add(1);
        co_return;
      }
      for (int i = 0; i < 3; ++i) co_await scope.spawn(node(scope, leaves, depth - 1));
    }
  };
  auto body = [&]() -> Task<void> {
    TaskScope scope;
    co_await scope.spawn(Tree::node(scope, leaves, 6));
    co_await scope.join();
  };
  sync_wait(rt, body());
  EXPECT_EQ(leaves.load(), 729);
}

TEST(TaskScope, EveryChildFrameIsFreedWhenJoinReturns) {
  Runtime rt({.threads = 4, .io_threads = 1});
  auto freed = std::make_shared<std::atomic<int>>(0);
  auto child = [](FrameTracker, int yields) -> Task<void> {
    for (int i = 0; i < yields; ++i) co_await yield_now();
  };
  auto body = [&]() -> Task<int> {
    TaskScope scope;
    for (int i = 0; i < 40; ++i) co_await scope.spawn(child(FrameTracker(freed), i % 5));
    co_await scope.join();
    co_return freed->load();
  };
  EXPECT_EQ(sync_wait(rt, body()), 40);
}

TEST(TaskScope, IsReusableAfterJoinEvenAfterAnError) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> done{0};
  auto body = [&]() -> Task<int> {
    TaskScope scope;
    co_await scope.spawn([]() -> Task<void> {
      throw std::runtime_error("round 1");
      co_return;
    }());
    try {
      co_await scope.join();
    } catch (const std::runtime_error&) {}
    EXPECT_FALSE(scope.stop_token().stop_requested());  // a fresh token for round 2
    for (int i = 0; i < 5; ++i) co_await scope.spawn(bump_after(done, 1));
    co_await scope.join();  // no stale error
    co_return done.load();
  };
  EXPECT_EQ(sync_wait(rt, body()), 5);
}

TEST(TaskScope, JoinOfAnEmptyScopeReturnsAtOnce) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto body = []() -> Task<bool> {
    TaskScope scope;
    co_await scope.join();
    co_await scope.join();
    co_return true;
  };
  EXPECT_TRUE(sync_wait(rt, body()));
}

TEST(TaskScope, JoinerResumesOnThePoolItSuspendedOn) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = [&]() -> Task<bool> {
    TaskScope scope;
    co_await scope.spawn([]() -> Task<void> {
      co_await on_io();  // the child ends on the I/O pool
      for (int i = 0; i < 10; ++i) co_await yield_now();
    }());
    co_await scope.join();
    co_return Executor::current() == &rt.compute();
  };
  EXPECT_TRUE(sync_wait(rt, body()));
}

TEST(TaskScope, ChildrenSeeTheSameOwnerTask) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<TaskState*> seen{nullptr};
  TaskHandle<TaskState*> h = rt.submit([&]() -> Task<TaskState*> {
    TaskScope scope;
    co_await scope.spawn([](std::atomic<TaskState*>& s) -> Task<void> {
      co_await yield_now();
      s = co_await this_task::owner();
    }(seen));
    co_await scope.join();
    co_return co_await this_task::owner();
  });
  TaskState* owner = h.get();
  EXPECT_NE(owner, nullptr);
  EXPECT_EQ(seen.load(), owner);
}

TEST(TaskScope, SpawnOffThePoolThrowsLogicError) {
  auto body = []() -> Task<void> {
    TaskScope scope;
    co_await scope.spawn([]() -> Task<void> { co_return; }());
    co_await scope.join();
  };
  Task<void> t = body();
  t.handle().resume();  // by hand, on this non-worker thread
  ASSERT_TRUE(t.handle().done());
  EXPECT_THROW(t.handle().promise().take(), std::logic_error);
}

TEST(WithTaskScope, ReturnsTheBodyResultAfterEveryChildFinished) {
  Runtime rt({.threads = 4, .io_threads = 1});
  std::atomic<int> done{0};
  auto body = [&]() -> Task<int> {
    int r = co_await with_task_scope([&](TaskScope& s) -> Task<int> {
      for (int i = 0; i < 20; ++i) co_await s.spawn(bump_after(done, i % 3));
      co_return 7;
    });
    EXPECT_EQ(done.load(), 20);
    co_return r;
  };
  EXPECT_EQ(sync_wait(rt, body()), 7);
}

TEST(WithTaskScope, ABodyThatThrowsStillJoinsItsChildrenThenRethrows) {
  Runtime rt({.threads = 4, .io_threads = 1});
  std::atomic<int> finished{0};
  auto body = [&]() -> Task<std::string> {
    try {
      co_await with_task_scope([&](TaskScope& s) -> Task<void> {
        for (int i = 0; i < 4; ++i) {
          co_await s.spawn([](std::stop_token tok, std::atomic<int>& f) -> Task<void> {
            while (!tok.stop_requested()) co_await yield_now();  // stops once the body failed
            f.fetch_add(1);
          }(s.stop_token(), finished));
        }
        throw std::runtime_error("body failed");
      });
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(finished.load(), 4);
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(sync_wait(rt, body()), "body failed");
}

TEST(WithTaskScope, AChildErrorBeforeTheBodyEndsWins) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = [&]() -> Task<std::string> {
    try {
      co_await with_task_scope([&](TaskScope& s) -> Task<void> {
        co_await s.spawn([]() -> Task<void> {
          throw std::runtime_error("child first");
          co_return;
        }());
        while (!s.stop_token().stop_requested()) co_await yield_now();  // the child has failed
        throw std::runtime_error("body second");
      });
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(sync_wait(rt, body()), "child first");
}

#ifdef NDEBUG
// Release builds: the unjoined children go on detached, are asked to stop,
// and free their frames; nothing touches the dead scope.
TEST(TaskScope, DestroyedUnjoinedInReleaseDetachesAndFreesTheChildren) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto freed = std::make_shared<std::atomic<int>>(0);
  auto stopped = std::make_shared<std::atomic<int>>(0);
  auto child = [](std::stop_token tok, FrameTracker, std::shared_ptr<std::atomic<int>> s) -> Task<void> {
    while (!tok.stop_requested()) co_await yield_now();
    s->fetch_add(1);
  };
  auto body = [&]() -> Task<void> {
    auto scope = std::make_unique<TaskScope>();
    for (int i = 0; i < 6; ++i) co_await scope->spawn(child(scope->stop_token(), FrameTracker(freed), stopped));
    scope.reset();  // the bug this test covers: no join
  };
  sync_wait(rt, body());
  EXPECT_TRUE(wait_until([&] { return freed->load() == 6; }));
  EXPECT_EQ(stopped->load(), 6);
}
#else
// Debug builds: the forgotten join is caught at once.
TEST(TaskScopeDeathTest, DestroyedUnjoinedInDebugAsserts) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "death tests fork a multi-threaded process, which TSan reports";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Runtime rt({.threads = 1, .io_threads = 1});
        auto body = []() -> Task<void> {
          TaskScope scope;
          co_await scope.spawn([]() -> Task<void> {
            for (;;) co_await yield_now();
          }());
        };
        sync_wait(rt, body());
      },
      "unjoined children");
#endif
}
#endif

// Many scopes at once, children with random yields and random failures:
// each join sees exactly its own children and at most its own error.
TEST(TaskScope, StressManyScopesWithRandomFailures) {
  Runtime rt({.threads = 4, .io_threads = 1});
  const int scopes = static_cast<int>(test::scaled(300, 20));
  auto freed = std::make_shared<std::atomic<int>>(0);
  std::atomic<int> created{0};
  auto child = [](int yields, bool fail, std::atomic<int>& count, FrameTracker) -> Task<void> {
    for (int i = 0; i < yields; ++i) co_await yield_now();
    count.fetch_add(1);
    if (fail) throw std::runtime_error("child failed");
  };
  auto one_scope = [&](int seed) -> Task<int> {
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::atomic<int> count{0};
    int n = 1 + static_cast<int>(rng() % 12);
    bool any_fail = false;
    TaskScope scope;
    for (int i = 0; i < n; ++i) {
      bool fail = rng() % 10 == 0;
      any_fail = any_fail || fail;
      created.fetch_add(1);
      co_await scope.spawn(child(static_cast<int>(rng() % 4), fail, count, FrameTracker(freed)));
    }
    bool threw = false;
    try {
      co_await scope.join();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    co_return (count.load() == n && threw == any_fail) ? 0 : 1;
  };
  std::vector<TaskHandle<int>> hs;
  for (int s = 0; s < scopes; ++s) hs.push_back(rt.submit(one_scope(s)));
  int bad = 0;
  for (auto& h : hs) bad += h.get();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(freed->load(), created.load());
}
