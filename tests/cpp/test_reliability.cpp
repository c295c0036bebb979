// Regression tests for the engine side of what an adversarial trial found
// (issue 10): completions from foreign threads racing the runtime's
// destruction, callbacks of timed-out tasks that wait or shut down,
// coroutine bodies outliving their timed-out task, thread-start failures,
// cancels racing a wait_all that frees the runtime, and fork inside a task.
// Run under ASan and TSan too (scripts/sanitize.sh): most of these fail there
// as use-after-free or races rather than as wrong values.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dftracer/utils/core/detail/thread_role.hpp"
#include "dftracer/utils/core/detail/thread_start.hpp"
#include "dftracer/utils/core/fork_join.hpp"
#include "dftracer/utils/core/pool_hop.hpp"
#include "dftracer/utils/core/runtime.hpp"
#include "pending_task.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::PendingTask;
using dftracer::utils::test::scaled;
using dftracer::utils::test::wait_until;

namespace {

RuntimeOptions small(std::chrono::milliseconds watchdog_interval = 10ms) {
  RuntimeOptions o;
  o.threads = 2;
  o.io_threads = 1;
  o.watchdog.interval = watchdog_interval;
  return o;
}

}  // namespace

// Item 12: the thread that settles the last task must not touch the runtime
// after a wait_all() that returned because of it let the owner free it.
TEST(Reliability, ForeignCompleterNeverTouchesAFreedRuntime) {
  std::minstd_rand rng(7);
  const std::size_t rounds = scaled(300, 30);
  for (std::size_t i = 0; i < rounds; ++i) {
    auto rt = std::make_unique<Runtime>(small(0ms));
    std::atomic<std::thread::id> hook_thread{};
    rt->set_failure_hook([&](TaskState&) { hook_thread = std::this_thread::get_id(); });
    auto* task = new PendingTask("pending");
    TaskStateRef ref = TaskStateRef::adopt(task);
    rt->submit_state(*task);
    ASSERT_TRUE(wait_until([&] { return task->started.load(std::memory_order_acquire); }));
    unsigned delay = rng() % 200;
    bool fail = (i % 2) == 1;
    std::thread completer([ref, delay, fail] {
      std::this_thread::sleep_for(std::chrono::microseconds(delay));
      if (fail) {
        ref->finish_failure(std::make_exception_ptr(std::runtime_error("foreign failure")));
      } else {
        ref->finish_success();
      }
    });
    rt->wait_all();
    rt.reset();  // while the completer may still be inside finish()
    completer.join();
    if (fail) {
      EXPECT_NE(hook_thread.load(), std::thread::id{});
      EXPECT_NE(hook_thread.load(), completer.get_id()) << "the failure hook ran on the foreign thread";
    }
    EXPECT_TRUE(ref->done());
  }
}

// Item 12, the user-thread form: a cancel() from another thread settles the
// last task while wait_all() returns and the runtime is destroyed.
TEST(Reliability, CancelRacingWaitAllAndDestructionIsSafe) {
  const std::size_t rounds = scaled(300, 30);
  for (std::size_t i = 0; i < rounds; ++i) {
    auto rt = std::make_unique<Runtime>(small(0ms));
    test::Gate gate;
    auto blocker = rt->submit([&] { gate.wait(); });
    auto queued = rt->submit([] {});
    auto q2 = rt->submit([] {});
    std::thread canceller([&] {
      queued.cancel();
      q2.cancel();
    });
    gate.open();
    rt->wait_all();
    rt.reset();
    canceller.join();
    EXPECT_TRUE(queued.done());
  }
}

// Item 7b: a task finalized while queued (cancelled, or timed out by the
// global timeout) never runs its body, however the finalize races the
// workers' claims. Every outcome is one CAS on the status (task_state.hpp),
// so a claim that loses leaves the body alone. A body that sees its task
// cancelled proves the bug (cancel never finalizes a running task); one that
// sees it timed out does not: the global timeout also ends running tasks,
// and may land between the claim and the body's look (seen in CI).
TEST(Reliability, TaskFinalizedWhileQueuedNeverRunsItsBody) {
  const std::size_t rounds = scaled(200, 20);
  constexpr int kTasks = 64;
  std::size_t cancelled = 0, timed_out = 0, ran = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    Runtime rt(small(1ms));
    std::vector<std::atomic<int>> runs(kTasks);
    std::vector<std::atomic<bool>> saw_cancelled(kTasks);
    std::vector<TaskHandle<void>> handles;
    handles.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      handles.push_back(rt.submit([&, i] {
        runs[i].fetch_add(1);
        if (this_task::current()->status() == TaskStatus::cancelled) saw_cancelled[i] = true;
      }));
    }
    // Race the workers' claims: cancel half from another thread, and on
    // odd rounds let a tiny global timeout take the rest while they run.
    std::thread canceller([&] {
      for (int i = 0; i < kTasks; i += 2) handles[i].cancel();
    });
    if (round % 2) rt.set_timeout(std::chrono::microseconds(50));
    canceller.join();
    rt.wait_all();
    for (int i = 0; i < kTasks; ++i) {
      TaskStatus s = handles[i].status();
      ASSERT_TRUE(is_final(s));
      EXPECT_FALSE(saw_cancelled[i].load()) << "a body ran for a task that was already cancelled";
      if (s == TaskStatus::cancelled) {
        ++cancelled;
        EXPECT_EQ(runs[i].load(), 0) << "a cancelled task's body ran";
      } else if (s == TaskStatus::timed_out && handles[i].state().start_ns() == 0) {
        ++timed_out;
        EXPECT_EQ(runs[i].load(), 0) << "a task timed out while queued ran its body";
      } else if (s == TaskStatus::completed) {
        ++ran;
        EXPECT_EQ(runs[i].load(), 1);
      }
    }
  }
  // The races must actually have happened both ways.
  EXPECT_GT(cancelled, 0u);
  EXPECT_GT(ran, 0u);
  RecordProperty("cancelled", static_cast<int>(cancelled));
  RecordProperty("timed_out_queued", static_cast<int>(timed_out));
}

// Item 3: a timed-out task's failure hook runs on the callback thread, where
// waiting for the runtime or shutting it down is refused (not a deadlock),
// the task's get() returns, and later timeouts still fire.
TEST(Reliability, TimedOutTaskCallbackThatWaitsOrShutsDownCannotDeadlock) {
  Runtime rt(small());
  rt.set_default_task_timeout(50ms);
  std::atomic<int> refused{0};
  std::atomic<int> calls{0};
  std::atomic<bool> on_watchdog{false};
  rt.set_failure_hook([&](TaskState&) {
    calls.fetch_add(1);
    if (ThreadRole::kind() == ThreadRole::Kind::watchdog) on_watchdog = true;
    try {
      rt.wait_all();
    } catch (const std::logic_error&) {
      refused.fetch_add(1);
    }
    try {
      rt.shutdown();
    } catch (const std::logic_error&) {
      refused.fetch_add(1);
    }
  });
  auto stuck = [] {
    auto until = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < until && !this_task::cancelled()) {
      std::this_thread::sleep_for(1ms);
    }
  };
  auto first = rt.submit(stuck, "first");
  EXPECT_THROW(first.get(), TaskTimeoutError);
  auto second = rt.submit(stuck, "second");
  EXPECT_THROW(second.get(), TaskTimeoutError) << "a later timeout must still fire";
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(refused.load(), 4);
  EXPECT_FALSE(on_watchdog.load()) << "user code ran on the watchdog thread";
  EXPECT_FALSE(rt.is_shut_down());
}

// Item 3, the waiting form: the hook of one timed-out task waits for another
// timed-out task, whose own finishing steps are queued behind it on the
// callback thread: the wait runs them.
TEST(Reliability, CallbackWaitingForATaskFinishedBehindItReturns) {
  Runtime rt(small());
  std::vector<TaskHandle<void>> handles;
  std::atomic<int> waited{0};
  test::Gate gate;
  auto a = rt.submit([&] { gate.wait(); }, "a");
  auto b = rt.submit([&] { gate.wait(); }, "b");
  rt.set_failure_hook([&](TaskState& t) {
    if (t.name() == "a") {
      // b timed out in the same pass: its tail is queued behind ours.
      b.wait();
      waited.fetch_add(1);
    }
  });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 2; }));
  rt.set_timeout(1ms);
  EXPECT_THROW(a.get(), TaskTimeoutError);
  EXPECT_THROW(b.get(), TaskTimeoutError);
  EXPECT_EQ(waited.load(), 1);
  gate.open();
  rt.set_timeout(0ms);
}

// Item 4: a coroutine task times out while its body waits for a task of
// another runtime; shutting down and destroying the first runtime waits for
// the body, which then resumes on a live pool (no use-after-free, no leak).
TEST(Reliability, TimedOutCoroutineBodyKeepsItsPoolsUntilItEnds) {
  const std::size_t rounds = scaled(20, 4);
  for (std::size_t i = 0; i < rounds; ++i) {
    Runtime other(small(0ms));
    test::Gate gate;
    auto slow = other.submit([&] { gate.wait(); }, "slow");
    std::atomic<bool> resumed{false};
    std::thread opener;
    {
      Runtime rt(small());
      rt.set_default_task_timeout(20ms);
      auto h = rt.submit([&]() -> Task<void> {
        co_await slow;     // suspended past its deadline
        co_await on_io();  // and hops pools afterwards
        co_await on_compute();
        resumed = true;
      });
      EXPECT_THROW(h.get(), TaskTimeoutError);
      opener = std::thread([&] {
        std::this_thread::sleep_for(30ms);
        gate.open();
      });
    }  // ~Runtime: must wait for the body
    EXPECT_TRUE(resumed.load()) << "the runtime was destroyed under a live body";
    opener.join();
  }
}

// Item 10: a thread the system refuses is an exception from the constructor
// (the threads already started are stopped), and for a spare, a count.
TEST(Reliability, ThreadStartFailureIsAnExceptionNotTerminate) {
  dftracer::utils::testing::fail_thread_starts_after(3);
  try {
    Runtime rt({.threads = 8, .io_threads = 1});
    ADD_FAILURE() << "the constructor must throw";
  } catch (const ThreadStartError& e) {
    EXPECT_NE(std::string(e.what()).find("could not start"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ulimit"), std::string::npos) << e.what();
  }
  dftracer::utils::testing::fail_thread_starts_after(-1);
  EXPECT_THROW(Runtime({.threads = kMaxPoolThreads + 1}), std::invalid_argument);

  Runtime rt({.threads = 1, .io_threads = 1});
  dftracer::utils::testing::fail_thread_starts_after(0);
  // Needs a spare (the awaited task waits for one of ours), which cannot
  // start: the wait goes on without one and the I/O pool still finishes it.
  auto a = rt.submit([&] {
    auto b = rt.submit(
        [] {
          std::this_thread::sleep_for(20ms);
          return 3;
        },
        "b", Pool::io);
    return b.get();
  });
  EXPECT_EQ(a.get(), 3);
  dftracer::utils::testing::fail_thread_starts_after(-1);
  EXPECT_GE(rt.compute().temporary_worker_start_failures(), 1u);
}

// Item 9: a task forks; the child returns from the task to the worker loop.
// It must end (status 0) without running the parent's queued tasks.
TEST(Reliability, ForkInsideATaskEndsTheChildAtTheWorkerLoop) {
  Runtime rt({.threads = 1, .io_threads = 1, .watchdog = {.interval = 0ms}});
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  test::Gate gate;
  auto forker = rt.submit([&] {
    gate.wait();  // the queued tasks below are in our pool's queue by now
    return static_cast<int>(fork());
  });
  std::vector<TaskHandle<void>> queued;
  for (int i = 0; i < 10; ++i) {
    queued.push_back(rt.submit([fd = fds[1]] {
      int pid = static_cast<int>(getpid());
      (void)!write(fd, &pid, sizeof pid);
    }));
  }
  gate.open();
  int child = forker.get();
  ASSERT_GT(child, 0);
  for (auto& q : queued) q.get();
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 1000 && !exited; ++i) {
    exited = waitpid(child, &status, WNOHANG) == child;
    if (!exited) std::this_thread::sleep_for(10ms);
  }
  if (!exited) kill(child, SIGKILL), waitpid(child, &status, 0);
  ASSERT_TRUE(exited) << "the forked child went on running the pool";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fds[1]);
  int pid = 0;
  int from_child = 0;
  while (read(fds[0], &pid, sizeof pid) == sizeof pid) from_child += pid == child;
  close(fds[0]);
  EXPECT_EQ(from_child, 0) << "the child ran the parent's queued tasks";
}

// A detached child (its JoinHandle dropped unjoined) may outlive the task it
// works for; what it reaches through this_task::owner() must stay alive.
TEST(Reliability, DetachedChildOutlivingItsTaskKeepsTheTaskAlive) {
  Runtime rt({.threads = 2, .io_threads = 1});
  std::atomic<bool> saw_owner{false};
  test::Gate gate;
  {
    auto h = rt.submit(
        [&]() -> Task<void> {
          auto child = [](test::Gate* g, std::atomic<bool>* saw) -> Task<void> {
            g->wait();
            TaskState* owner = co_await this_task::owner();
            *saw = owner != nullptr && owner->name() == "parent" && !owner->cancel_requested();
          };
          { auto detached = co_await spawn(child(&gate, &saw_owner)); }
          co_return;
        },
        "parent");
    h.get();
  }  // the last handle is gone: only the detached child keeps the task
  gate.open();
  EXPECT_TRUE(wait_until([&] { return saw_owner.load(); }));
  rt.wait_all();
}
