// when_any: the first task to finish wins (value or error), the losers run
// on detached and free their frames, the stop source is requested, and the
// caller resumes on its own executor.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using dftracer::utils::test::wait_until;

namespace {

// Counts frames freed: a coroutine parameter dies exactly with its frame.
struct FrameTracker {
  std::shared_ptr<std::atomic<int>> freed;
  explicit FrameTracker(std::shared_ptr<std::atomic<int>> f) : freed(std::move(f)) {}
  FrameTracker(FrameTracker&& o) noexcept : freed(std::move(o.freed)) {}
  ~FrameTracker() {
    if (freed) freed->fetch_add(1);
  }
};

Task<int> value(int v) { co_return v; }

// Yields (never blocks a worker) until `open` is set, then returns v.
Task<int> value_after(std::shared_ptr<std::atomic<bool>> open, int v) {
  while (!open->load()) co_await yield_now();
  co_return v;
}

Task<int> fail_after(std::shared_ptr<std::atomic<bool>> open, std::string what) {
  while (!open->load()) co_await yield_now();
  throw std::runtime_error(what);
}

Task<int> fail_now(std::string what) {
  throw std::runtime_error(what);
  co_return 0;
}

// A loser that looks at its owner task only after being let go.
Task<int> owner_reader(std::shared_ptr<std::atomic<bool>> open, std::shared_ptr<std::atomic<std::uint64_t>> seen) {
  while (!open->load()) co_await yield_now();
  TaskState* owner = co_await this_task::owner();
  seen->store(owner ? owner->id() : 0);
  co_return 0;
}

Task<std::size_t> race_with_owner_reader(std::shared_ptr<std::atomic<bool>> open,
                                         std::shared_ptr<std::atomic<std::uint64_t>> seen) {
  std::vector<Task<int>> tasks;
  tasks.push_back(owner_reader(open, seen));
  tasks.push_back(value(1));
  co_return (co_await when_any(std::move(tasks))).index;
}

}  // namespace

TEST(WhenAny, FirstToFinishWinsWithItsIndexAndValue) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto never = std::make_shared<std::atomic<bool>>(false);
  auto body = [never]() -> Task<AnyResult<int>> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(never, 10));
    tasks.push_back(value_after(never, 11));
    tasks.push_back(value(12));
    tasks.push_back(value_after(never, 13));
    co_return co_await when_any(std::move(tasks));
  };
  AnyResult<int> r = sync_wait(rt, body());
  EXPECT_EQ(r.index, 2u);
  EXPECT_EQ(r.value, 12);
  never->store(true);  // let the losers end before the runtime goes
}

TEST(WhenAny, ReturnsWhileLosersStillRunAndLosersFreeTheirFramesLater) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto open = std::make_shared<std::atomic<bool>>(false);
  auto freed = std::make_shared<std::atomic<int>>(0);
  auto loser = [](std::shared_ptr<std::atomic<bool>> o, FrameTracker) -> Task<int> {
    while (!o->load()) co_await yield_now();
    co_return -1;
  };
  auto body = [&]() -> Task<std::size_t> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(loser(open, FrameTracker(freed)));
    tasks.push_back(value(7));
    auto r = co_await when_any(std::move(tasks));
    co_return r.index;
  };
  EXPECT_EQ(sync_wait(rt, body()), 5u);
  // when_any returned, the losers are still waiting: not freed yet.
  EXPECT_EQ(freed->load(), 0);
  open->store(true);
  EXPECT_TRUE(wait_until([&] { return freed->load() == 5; }));
}

TEST(WhenAny, AWinnerThatFailedIsRethrown) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto never = std::make_shared<std::atomic<bool>>(false);
  auto body = [never]() -> Task<std::string> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(never, 1));
    tasks.push_back(fail_now("first to finish"));
    try {
      co_await when_any(std::move(tasks));
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(sync_wait(rt, body()), "first to finish");
  never->store(true);
}

TEST(WhenAny, SettledFormGivesTheIndexOfAFailedWinnerAndNeverThrows) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto never = std::make_shared<std::atomic<bool>>(false);
  auto body = [never]() -> Task<AnyOutcome<int>> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(never, 1));
    tasks.push_back(value_after(never, 2));
    tasks.push_back(fail_now("boom"));
    co_return co_await when_any_settled(std::move(tasks));
  };
  AnyOutcome<int> r = sync_wait(rt, body());
  EXPECT_EQ(r.index, 2u);
  ASSERT_FALSE(r.outcome.ok());
  EXPECT_FALSE(r.outcome.value.has_value());
  EXPECT_THROW(std::rethrow_exception(r.outcome.error), std::runtime_error);
  never->store(true);
}

TEST(WhenAny, AnErrorAfterTheWinnerIsDiscarded) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto open = std::make_shared<std::atomic<bool>>(false);
  auto body = [open]() -> Task<int> {
    std::vector<Task<int>> tasks;
    tasks.push_back(fail_after(open, "late"));
    tasks.push_back(value(5));
    auto r = co_await when_any(std::move(tasks));
    open->store(true);  // the loser now throws, into nowhere
    co_return r.value;
  };
  EXPECT_EQ(sync_wait(rt, body()), 5);
  rt.wait_all();
}

TEST(WhenAny, StopSourceIsRequestedSoLosersCanGiveUp) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto gave_up = std::make_shared<std::atomic<int>>(0);
  auto stoppable = [](std::stop_token tok, std::shared_ptr<std::atomic<int>> g) -> Task<int> {
    while (!tok.stop_requested()) co_await yield_now();
    g->fetch_add(1);
    co_return -1;
  };
  auto body = [&]() -> Task<AnyResult<int>> {
    std::stop_source stop;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 3; ++i) tasks.push_back(stoppable(stop.get_token(), gave_up));
    tasks.push_back(value(9));
    auto r = co_await when_any(stop, std::move(tasks));
    // Requested before we resumed.
    EXPECT_TRUE(stop.stop_requested());
    co_return r;
  };
  AnyResult<int> r = sync_wait(rt, body());
  EXPECT_EQ(r.index, 3u);
  EXPECT_EQ(r.value, 9);
  EXPECT_TRUE(wait_until([&] { return gave_up->load() == 3; }));
}

TEST(WhenAny, VariadicFormMixesTypesAndVoid) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto never = std::make_shared<std::atomic<bool>>(false);
  auto text = [](std::shared_ptr<std::atomic<bool>> n) -> Task<std::string> {
    while (!n->load()) co_await yield_now();
    co_return "late";
  };
  auto nothing = []() -> Task<void> { co_return; };
  auto body = [&]() -> Task<AnyOf<int, std::string, void>> {
    co_return co_await when_any(value_after(never, 1), text(never), nothing());
  };
  AnyOf<int, std::string, void> r = sync_wait(rt, body());
  EXPECT_EQ(r.index, 2u);
  EXPECT_EQ(r.value.index(), 2u);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.value));

  auto body2 = [&]() -> Task<AnyOf<int, std::string>> {
    std::stop_source stop;
    co_return co_await when_any(stop, value_after(never, 1), []() -> Task<std::string> { co_return "now"; }());
  };
  auto r2 = sync_wait(rt, body2());
  EXPECT_EQ(r2.index, 1u);
  EXPECT_EQ(std::get<1>(r2.value), "now");
  never->store(true);
}

TEST(WhenAny, CarriesMoveOnlyResults) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto body = []() -> Task<int> {
    std::vector<Task<std::unique_ptr<int>>> tasks;
    tasks.push_back([]() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(4); }());
    auto r = co_await when_any(std::move(tasks));
    co_return *r.value;
  };
  EXPECT_EQ(sync_wait(rt, body()), 4);
}

TEST(WhenAny, EmptyListThrowsInvalidArgument) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto body = []() -> Task<void> { co_await when_any(std::vector<Task<int>>{}); };
  EXPECT_THROW(sync_wait(rt, body()), std::invalid_argument);
}

TEST(WhenAny, OffThePoolThrowsLogicError) {
  std::vector<Task<int>> tasks;
  tasks.push_back(value(1));
  Task<AnyResult<int>> t = when_any(std::move(tasks));
  auto driver = [](Task<AnyResult<int>> inner) -> Task<int> { co_return (co_await std::move(inner)).value; };
  Task<int> d = driver(std::move(t));
  d.handle().resume();  // by hand, on this non-worker thread
  ASSERT_TRUE(d.handle().done());
  EXPECT_THROW(d.handle().promise().take(), std::logic_error);
}

TEST(WhenAny, CallerResumesOnItsOwnPoolWhenTheWinnerEndsOnAnother) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto on_io_then = [](int v) -> Task<int> {
    co_await on_io();
    co_return v;  // finishes on the I/O pool
  };
  auto body = [&]() -> Task<bool> {
    std::vector<Task<int>> tasks;
    tasks.push_back(on_io_then(3));
    co_await when_any(std::move(tasks));
    co_return Executor::current() == &rt.compute();
  };
  EXPECT_TRUE(sync_wait(rt, body()));
}

TEST(WhenAny, OneThreadStillFindsTheWinner) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto open = std::make_shared<std::atomic<bool>>(false);
  auto body = [open]() -> Task<std::size_t> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(open, 0));
    tasks.push_back([](std::shared_ptr<std::atomic<bool>> o) -> Task<int> {
      co_await yield_now();
      o->store(true);  // the other one may finish only after us
      co_return 1;
    }(open));
    co_return (co_await when_any(std::move(tasks))).index;
  };
  EXPECT_EQ(sync_wait(rt, body()), 1u);
}

TEST(WhenAny, LosersStillQueuedAtRuntimeDestructionRunAndFreeTheirFrames) {
  auto freed = std::make_shared<std::atomic<int>>(0);
  {
    Runtime rt({.threads = 1, .io_threads = 1});
    auto slow = [](FrameTracker) -> Task<int> {
      for (int i = 0; i < 50; ++i) co_await yield_now();
      co_return 0;
    };
    auto body = [&]() -> Task<std::size_t> {
      std::vector<Task<int>> tasks;
      for (int i = 0; i < 8; ++i) tasks.push_back(slow(FrameTracker(freed)));
      tasks.push_back(value(1));
      co_return (co_await when_any(std::move(tasks))).index;
    };
    EXPECT_EQ(sync_wait(rt, body()), 8u);
  }  // the pools drain the losers before joining
  EXPECT_EQ(freed->load(), 8);
}

// Many races with random delays on several threads: every call yields a
// valid index with that task's own outcome, and every racer frame (winner or
// loser) is freed in the end.
TEST(WhenAny, StressEveryWinnerIsRealAndEveryFrameIsFreed) {
  Runtime rt({.threads = 4, .io_threads = 1});
  const int rounds = static_cast<int>(test::scaled(2000, 50));
  auto freed = std::make_shared<std::atomic<int>>(0);
  int created = 0;
  auto racer = [](int i, int yields, FrameTracker) -> Task<int> {
    for (int k = 0; k < yields; ++k) co_await yield_now();
    if (i % 5 == 4) throw std::runtime_error("racer failed");
    co_return i;
  };
  auto body = [&]() -> Task<int> {
    std::mt19937 rng(12345);
    int bad = 0;
    for (int r = 0; r < rounds; ++r) {
      std::vector<Task<int>> tasks;
      int n = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) tasks.push_back(racer(i, static_cast<int>(rng() % 4), FrameTracker(freed)));
      created += n;
      AnyOutcome<int> out = co_await when_any_settled(std::move(tasks));
      if (out.index >= static_cast<std::size_t>(n)) ++bad;
      if (out.outcome.ok() && *out.outcome.value != static_cast<int>(out.index)) ++bad;
      if (!out.outcome.ok() && out.index % 5 != 4) ++bad;
    }
    co_return bad;
  };
  EXPECT_EQ(sync_wait(rt, body()), 0);
  EXPECT_TRUE(wait_until([&] { return freed->load() == created; }));
  EXPECT_EQ(freed->load(), created);
}

// The losers' promises point at the submitted task they work for; when_any
// keeps it alive for them, so a loser may still reach it after the task
// finished and its last handle was dropped (ASan would catch a dangling one).
TEST(WhenAny, LosersMayStillReachTheirOwnerTaskAfterItFinished) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto open = std::make_shared<std::atomic<bool>>(false);
  auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::uint64_t id = 0;
  {
    TaskHandle<std::size_t> h = rt.submit(race_with_owner_reader(open, seen), "racer");
    EXPECT_EQ(h.get(), 1u);
    id = h.id();
  }  // the task is finished and its handle gone
  rt.wait_all();
  open->store(true);
  EXPECT_TRUE(wait_until([&] { return seen->load() != 0; }));
  EXPECT_EQ(seen->load(), id);
}
