// Runtime lifecycle: submit forms, wait_all, shutdown (draining, cancelling,
// idempotent, refusing), destruction with work in flight, failure hook.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
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

TEST(Runtime, ReportsThePoolSizesInUse) {
  Runtime rt({.threads = 3, .io_threads = 2});
  EXPECT_EQ(rt.threads(), 3u);
  EXPECT_EQ(rt.io_threads(), 2u);
  Runtime same({.threads = 2});
  EXPECT_EQ(same.io_threads(), 2u);  // io_threads=0: as many as compute
}

TEST(Runtime, CurrentIsTheOwningRuntimeOnEitherPool) {
  Runtime rt({.threads = 1, .io_threads = 1});
  EXPECT_EQ(Runtime::current(), nullptr);
  EXPECT_EQ(rt.submit([] { return Runtime::current(); }).get(), &rt);
  EXPECT_EQ(rt.submit([] { return Runtime::current(); }, "", Pool::io).get(), &rt);
}

TEST(Runtime, CoroutineLambdaKeepsItsCapturesAliveUntilItRuns) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(); });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  std::vector<TaskHandle<std::string>> handles;
  for (int i = 0; i < 50; ++i) {
    // The closure is a temporary: the runtime must keep it alive while the
    // coroutine it returned is queued and running.
    std::string text(64, static_cast<char>('a' + i % 26));
    handles.push_back(rt.submit([text, i]() -> Task<std::string> {
      co_await yield_now();
      co_return text + std::to_string(i);
    }));
  }
  gate.open();
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(handles[static_cast<std::size_t>(i)].get(),
              std::string(64, static_cast<char>('a' + i % 26)) + std::to_string(i));
  }
}

TEST(Runtime, WaitAllCoversTasksSubmittedByTasks) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> ran{0};
  // A tree: each task submits two children until depth 0, with a little
  // work at each node so children are still queued when parents finish.
  std::function<void(int)> node = [&](int depth) {
    ran.fetch_add(1);
    std::this_thread::sleep_for(50us);
    if (depth == 0) return;
    for (int i = 0; i < 2; ++i) (void)rt.submit([&node, depth] { node(depth - 1); });
  };
  (void)rt.submit([&] { node(9); });
  rt.wait_all();
  EXPECT_EQ(ran.load(), (1 << 10) - 1);
  EXPECT_EQ(rt.active(), 0u);
  auto totals = rt.registry().totals();
  EXPECT_EQ(totals.completed, static_cast<std::uint64_t>((1 << 10) - 1));
  EXPECT_EQ(totals.queued + totals.running, 0u);
}

TEST(Runtime, WaitAllReturnsAtOnceWhenIdleAndCanBeRepeated) {
  Runtime rt({.threads = 2, .io_threads = 1});
  rt.wait_all();
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> ran{0};
    for (int i = 0; i < 100; ++i) (void)rt.submit([&] { ran.fetch_add(1); });
    rt.wait_all();
    ASSERT_EQ(ran.load(), 100) << "round " << round;
  }
}

TEST(Runtime, WaitAllFromManyThreadsAtOnce) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Gate gate;
  (void)rt.submit([&] { gate.wait(); });
  std::atomic<int> returned{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i)
    waiters.emplace_back([&] {
      rt.wait_all();
      returned.fetch_add(1);
    });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(returned.load(), 0);
  gate.open();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(returned.load(), 4);
}

TEST(Runtime, WaitAllForTimesOutWhileWorkRuns) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  (void)rt.submit([&] { gate.wait(); });
  EXPECT_FALSE(rt.wait_all_for(20ms));
  gate.open();
  EXPECT_TRUE(rt.wait_all_for(30s));
}

TEST(Runtime, WaitAllOrShutdownFromInsideATaskThrowsLogicError) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto probe = [&](Pool pool) {
    return rt
        .submit(
            [&] {
              int caught = 0;
              try {
                rt.wait_all();
              } catch (const std::logic_error&) {
                caught |= 1;
              }
              try {
                rt.wait_all_for(1ms);
              } catch (const std::logic_error&) {
                caught |= 2;
              }
              try {
                rt.shutdown();
              } catch (const std::logic_error&) {
                caught |= 4;
              }
              return caught;
            },
            "probe", pool)
        .get();
  };
  EXPECT_EQ(probe(Pool::compute), 7);
  EXPECT_EQ(probe(Pool::io), 7);
  EXPECT_FALSE(rt.is_shut_down());
  EXPECT_EQ(rt.submit([] { return 1; }).get(), 1);
}

TEST(Runtime, ShutdownWithWaitDrainsEverythingQueued) {
  std::atomic<int> ran{0};
  std::vector<TaskHandle<void>> handles;
  Runtime rt({.threads = 2, .io_threads = 1});
  for (int i = 0; i < 2000; ++i) {
    handles.push_back(rt.submit([&] {
      ran.fetch_add(1);
      // Work submitted by tasks during the drain is accepted and run too.
      if (ran.load() % 100 == 0) (void)Runtime::current()->submit([&] { ran.fetch_add(1); });
    }));
  }
  rt.shutdown(true);
  EXPECT_TRUE(rt.is_shut_down());
  EXPECT_GE(ran.load(), 2000);
  for (auto& h : handles) EXPECT_EQ(h.status(), TaskStatus::completed);
  auto totals = rt.registry().totals();
  EXPECT_EQ(totals.completed, totals.submitted);
  EXPECT_EQ(static_cast<std::uint64_t>(ran.load()), totals.submitted);
}

TEST(Runtime, ShutdownWithoutWaitCancelsQueuedAndSignalsRunning) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<bool> running_saw_cancel{false};
  std::atomic<bool> started{false};
  auto running = rt.submit([&] {
    started = true;
    wait_until([] { return this_task::cancelled(); }, 20s);
    running_saw_cancel = this_task::cancelled();
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  std::atomic<int> queued_ran{0};
  std::vector<TaskHandle<void>> queued;
  for (int i = 0; i < 100; ++i) queued.push_back(rt.submit([&] { queued_ran.fetch_add(1); }));
  rt.shutdown(false);
  EXPECT_TRUE(running_saw_cancel.load());
  EXPECT_EQ(running.status(), TaskStatus::completed);
  EXPECT_EQ(queued_ran.load(), 0);
  for (auto& h : queued) {
    EXPECT_EQ(h.status(), TaskStatus::cancelled);
    EXPECT_THROW(h.get(), TaskCancelledError);
  }
  EXPECT_EQ(rt.registry().totals().cancelled, 100u);
}

TEST(Runtime, ShutdownIsIdempotentAndSafeFromSeveralThreads) {
  Runtime rt({.threads = 2, .io_threads = 1});
  for (int i = 0; i < 100; ++i) (void)rt.submit([] { std::this_thread::sleep_for(10us); });
  std::vector<std::thread> closers;
  for (int i = 0; i < 4; ++i) closers.emplace_back([&, i] { rt.shutdown(i % 2 == 0); });
  for (auto& t : closers) t.join();
  EXPECT_TRUE(rt.is_shut_down());
  EXPECT_NO_THROW(rt.shutdown());
  EXPECT_NO_THROW(rt.shutdown(false));
  EXPECT_EQ(rt.active(), 0u);
}

TEST(Runtime, SubmitAfterShutdownThrowsRuntimeShutdownError) {
  Runtime rt({.threads = 1, .io_threads = 1});
  rt.shutdown();
  EXPECT_THROW((void)rt.submit([] {}), RuntimeShutdownError);
  EXPECT_THROW((void)rt.submit([]() -> Task<int> { co_return 1; }), RuntimeShutdownError);
  EXPECT_THROW((void)rt.submit([] {}, "io", Pool::io), RuntimeShutdownError);
  // A refused submission is not counted.
  EXPECT_EQ(rt.active(), 0u);
  EXPECT_EQ(rt.registry().totals().submitted, 0u);
  EXPECT_TRUE(rt.is_closed());
}

TEST(Runtime, SubmitFromATaskDuringShutdownWithoutWaitIsRefused) {
  Runtime rt({.threads = 1, .io_threads = 1});
  std::atomic<bool> started{false};
  std::atomic<int> outcome{0};
  auto h = rt.submit([&] {
    started = true;
    wait_until([] { return this_task::cancelled(); }, 20s);
    try {
      (void)Runtime::current()->submit([] {});
      outcome = 1;
    } catch (const RuntimeShutdownError&) {
      outcome = 2;
    }
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  rt.shutdown(false);
  EXPECT_EQ(outcome.load(), 2);
}

TEST(Runtime, DestroyingARuntimeWithWorkInFlightIsSafe) {
  std::vector<TaskHandle<int>> handles;
  std::atomic<int> ran{0};
  {
    Runtime rt({.threads = 2, .io_threads = 1});
    for (int i = 0; i < 2000; ++i) {
      handles.push_back(rt.submit([&, i] {
        ran.fetch_add(1);
        // Long enough that most are still queued at destruction; stops early
        // when asked to.
        for (int k = 0; k < 20 && !this_task::cancelled(); ++k) std::this_thread::sleep_for(50us);
        return i;
      }));
    }
    handles.push_back(rt.submit([]() -> Task<int> {
      co_await yield_now();
      co_return -1;
    }));
    handles.push_back(rt.submit([] { return -2; }, "io", Pool::io));
  }
  // Handles outlive the runtime: each is final, with a value or a cancellation.
  int completed = 0, cancelled = 0;
  for (auto& h : handles) {
    ASSERT_TRUE(h.done());
    if (h.status() == TaskStatus::completed) {
      ++completed;
      (void)h.get();
    } else {
      ASSERT_EQ(h.status(), TaskStatus::cancelled);
      EXPECT_THROW(h.get(), TaskCancelledError);
      ++cancelled;
    }
  }
  EXPECT_EQ(completed + cancelled, static_cast<int>(handles.size()));
  // A callable that started ran to the end (completed); none ran twice.
  int callables_completed = 0;
  for (std::size_t i = 0; i < 2000; ++i) callables_completed += handles[i].status() == TaskStatus::completed;
  EXPECT_EQ(ran.load(), callables_completed);
}

TEST(Runtime, DestroyingAnIdleRuntimeRightAfterCreationIsSafe) {
  for (int i = 0; i < 50; ++i) {
    Runtime rt({.threads = 2, .io_threads = 2});
  }
}

TEST(Runtime, FailureHookRunsBeforeGetReturns) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<int> hooked{0};
  std::mutex mu;
  std::vector<std::string> names;
  rt.set_failure_hook([&](TaskState& t) {
    std::lock_guard lock(mu);
    names.push_back(t.name());
    hooked.fetch_add(1);
  });
  auto h = rt.submit([]() -> int { throw std::runtime_error("x"); }, "doomed");
  EXPECT_THROW(h.get(), std::runtime_error);
  EXPECT_EQ(hooked.load(), 1);  // already recorded when get() returns
  (void)rt.submit([] { return 1; }).get();
  EXPECT_EQ(hooked.load(), 1);  // success does not call it
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0], "doomed");
  }
  // A throwing hook does not take a worker down.
  rt.set_failure_hook([](TaskState&) { throw std::logic_error("bad hook"); });
  auto h2 = rt.submit([]() -> int { throw std::runtime_error("y"); });
  EXPECT_THROW(h2.get(), std::runtime_error);
  rt.set_failure_hook(nullptr);
  EXPECT_EQ(rt.submit([] { return 2; }).get(), 2);
}

TEST(Runtime, OnWorkerExitRunsForEveryThreadThatMayRunUserCode) {
  std::atomic<int> exits{0};
  {
    Runtime rt({.threads = 2, .io_threads = 3, .on_worker_exit = [&] { exits.fetch_add(1); }});
    (void)rt.submit([] {}).get();
  }
  EXPECT_EQ(exits.load(), 2 + 3 + 1) << "both pools' workers and the callback thread";
}

TEST(Runtime, SyncWaitFromOutsideAndInsideThePool) {
  Runtime rt({.threads = 1, .io_threads = 1});
  auto answer = []() -> Task<int> { co_return 42; };
  EXPECT_EQ(sync_wait(rt, answer()), 42);
  // From a worker: the submitted task runs inline in get().
  auto h = rt.submit([&] { return sync_wait(rt, answer()) + 1; });
  EXPECT_EQ(h.get(), 43);
}

TEST(Runtime, WorkersViewShowsTheRunningTaskByIdAndName) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto h = rt.submit([&] { gate.wait(); }, "watched-task");
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  auto view = rt.compute().workers_view();
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0].activity, WorkerActivity::running);
  EXPECT_EQ(view[0].task_id, h.id());
  EXPECT_EQ(view[0].task_name, "watched-task");
  EXPECT_GT(view[0].task_since_ns, 0);
  gate.open();
  h.wait();
  ASSERT_TRUE(wait_until([&] { return rt.compute().workers_view()[0].tasks_run >= 1; }));
}

// An observer reading worker slots while names change under it never sees a
// torn name: only whole names of tasks that ran, or nothing.
TEST(Runtime, WorkerSlotNamesAreNeverTornUnderConcurrentReads) {
  Runtime rt({.threads = 2, .io_threads = 1});
  const std::vector<std::string> names = {"a", std::string(70, 'b'), "cc-short", std::string(120, 'd')};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0}, seen{0};
  std::thread observer([&] {
    while (!stop.load()) {
      for (const auto& w : rt.compute().workers_view()) {
        if (w.task_name.empty()) continue;
        seen.fetch_add(1);
        bool whole = false;
        for (const auto& n : names) whole |= w.task_name == n.substr(0, WorkerSlot::kNameBytes - 1);
        if (!whole) torn.fetch_add(1);
      }
    }
  });
  for (int i = 0; i < static_cast<int>(test::scaled(20000, 2000)); ++i) {
    (void)rt.submit([] {}, names[static_cast<std::size_t>(i) % names.size()]);
  }
  rt.wait_all();
  stop = true;
  observer.join();
  EXPECT_EQ(torn.load(), 0u) << "of " << seen.load() << " names read";
}

// An idle runtime parks every thread of both pools: no busy CPU, and spares
// started for blocked waits are gone shortly after the waits end.
TEST(Runtime, IdleRuntimeBurnsNoCpuAndDropsItsSpares) {
  Runtime rt({.threads = 2, .io_threads = 2});
  // Make some spares: tasks that block on a coroutine task that yields.
  auto slow = rt.submit([]() -> Task<int> {
    for (int i = 0; i < 200; ++i) co_await yield_now();
    co_return 1;
  });
  std::vector<TaskHandle<int>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(rt.submit([&] { return slow.get(); }));
  for (auto& w : waiters) EXPECT_EQ(w.get(), 1);
  rt.wait_all();
  ASSERT_TRUE(wait_until([&] { return rt.compute().live_threads() == 2u; }, 10s))
      << rt.compute().live_threads() << " threads still live";
  if (test::kUnderSanitizer) return;   // CPU accounting is meaningless there
  std::this_thread::sleep_for(100ms);  // let the last workers finish spinning
  auto before = test::process_cpu_time();
  std::this_thread::sleep_for(500ms);
  EXPECT_LT(test::process_cpu_time() - before, 25ms);
}
