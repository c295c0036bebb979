// Watchdog: timeouts, global timeout, starvation, stalls, live progress,
// idle cost, and the duration parser.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <thread>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using test::Gate;
using test::wait_until;

namespace {
RuntimeOptions fast_watchdog(std::size_t threads = 1) {
  RuntimeOptions o;
  o.threads = threads;
  o.io_threads = 1;
  o.watchdog.interval = 10ms;
  o.watchdog.starvation_threshold = 100ms;
  o.watchdog.stall_threshold = 300ms;
  o.watchdog.long_task_threshold = 100ms;
  return o;
}
}  // namespace

TEST(Watchdog, TaskSleepingPastItsTimeoutFailsWithTaskTimeoutError) {
  std::atomic<bool> saw_cancel{false};  // before the runtime: the timed-out body sets it late
  Runtime rt(fast_watchdog(2));
  rt.set_default_task_timeout(50ms);
  auto h = rt.submit([&] {
    // A cooperative body: it sleeps in short steps and stops when asked.
    for (int i = 0; i < 500 && !this_task::cancelled(); ++i) std::this_thread::sleep_for(2ms);
    saw_cancel = this_task::cancelled();
    return 1;
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(h.get(), TaskTimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);  // released at the deadline, not at the end
  EXPECT_EQ(h.status(), TaskStatus::timed_out);
  EXPECT_TRUE(wait_until([&] { return saw_cancel.load(); }));
  rt.wait_all();
  EXPECT_EQ(rt.registry().totals().timed_out, 1u);
  auto errors = rt.registry().errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].status, TaskStatus::timed_out);
  EXPECT_NE(errors[0].message.find("exceeded its timeout"), std::string::npos);
  EXPECT_EQ(rt.registry().failed().size(), 1u);
}

TEST(Watchdog, TasksWithinTheirTimeoutComplete) {
  Runtime rt(fast_watchdog(2));
  rt.set_default_task_timeout(5s);
  EXPECT_EQ(rt.submit([] { return 7; }).get(), 7);
  rt.set_default_task_timeout(0ns);
  EXPECT_EQ(rt.submit([] {
                std::this_thread::sleep_for(80ms);
                return 8;
              }).get(),
            8);
}

TEST(Watchdog, GlobalTimeoutTimesOutQueuedAndRunningTasks) {
  Gate gate;  // before the runtime: a timed-out body may still use it
  Runtime rt(fast_watchdog(1));
  auto running = rt.submit([&] { gate.wait(5s); });
  auto queued = rt.submit([] { return 1; });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  EXPECT_TRUE(rt.is_responsive());
  rt.set_timeout(50ms);
  EXPECT_THROW(running.get(), TaskTimeoutError);
  EXPECT_THROW(queued.get(), TaskTimeoutError);
  EXPECT_EQ(queued.status(), TaskStatus::timed_out);
  EXPECT_TRUE(wait_until([&] { return !rt.is_responsive(); }, 2s));
  gate.open();
  rt.set_timeout(0ns);  // cleared: responsive again, work flows
  EXPECT_EQ(rt.submit([] { return 3; }).get(), 3);
  EXPECT_TRUE(wait_until([&] { return rt.is_responsive(); }, 2s));
}

TEST(Watchdog, StarvationOnOneThreadIsResolvedByATemporaryWorker) {
  std::atomic<bool> waiting{false};
  std::atomic<bool> event{false};
  std::atomic<int> setter_ran_while_waiting{0};
  Runtime rt(fast_watchdog(1));
  // The first task blocks on something the runtime cannot see; only the
  // second task sets it, and there is one worker. The second is submitted
  // once the first is waiting, so only a temporary worker can run it.
  auto waiter = rt.submit([&] {
    waiting = true;
    while (!event.load()) std::this_thread::sleep_for(1ms);
    return 1;
  });
  ASSERT_TRUE(wait_until([&] { return waiting.load(); }));
  auto setter = rt.submit([&] {
    setter_ran_while_waiting = waiting.load() && !waiter.done() ? 1 : 0;
    event = true;
    return 2;
  });
  EXPECT_TRUE(wait_until([&] { return setter.done() && waiter.done(); }, 10s));
  EXPECT_EQ(waiter.get() + setter.get(), 3);
  EXPECT_EQ(setter_ran_while_waiting.load(), 1);
  ASSERT_NE(rt.watchdog(), nullptr);
  EXPECT_GE(rt.watchdog()->temporary_workers_added(), 1u);
  // The temporary worker retires once it is idle and surplus.
  EXPECT_TRUE(wait_until([&] { return rt.compute().temporary_workers_live() == 0; }, 5s));
}

TEST(Watchdog, StallFlipsIsResponsiveAndBack) {
  RuntimeOptions o = fast_watchdog(1);
  o.max_temporary_workers = 0;
  o.watchdog.starvation_threshold = 60s;  // keep temporary workers out of this test
  Runtime rt(o);
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(10s); });
  auto queued = rt.submit([] { return 1; });
  EXPECT_TRUE(rt.is_responsive());
  EXPECT_TRUE(wait_until([&] { return !rt.is_responsive(); }, 5s));
  EXPECT_TRUE(rt.watchdog()->stalled());
  gate.open();
  EXPECT_EQ(queued.get(), 1);
  EXPECT_TRUE(wait_until([&] { return rt.is_responsive(); }, 5s));
}

TEST(Watchdog, LongRunningTasksAreReportedOnce) {
  Runtime rt(fast_watchdog(2));
  std::mutex mu;
  std::vector<std::string> messages;
  rt.watchdog()->set_hooks({nullptr, [&](const std::vector<WatchdogEvent>& events) {
                              std::lock_guard lock(mu);
                              for (auto& e : events) messages.push_back(e.message);
                            }});
  auto h = rt.submit([] { std::this_thread::sleep_for(400ms); }, "slowpoke");
  h.get();
  std::lock_guard lock(mu);
  int mentions = 0;
  for (auto& m : messages) mentions += m.find("'slowpoke'") != std::string::npos;
  EXPECT_EQ(mentions, 1);
}

TEST(Watchdog, ProgressShowsTheRunningTaskWithinOneInterval) {
  Gate gate;  // before the runtime: a timed-out body may still use it
  Runtime rt(fast_watchdog(1));
  auto h = rt.submit([&] { gate.wait(); }, "visible-task");
  bool seen = wait_until(
      [&] {
        for (auto& w : rt.compute().workers_view()) {
          if (w.task_name == "visible-task") return true;
        }
        return false;
      },
      1s);
  gate.open();
  h.get();
  EXPECT_TRUE(seen);
}

TEST(Watchdog, IdleRuntimeUsesAlmostNoCpu) {
  Runtime rt(fast_watchdog(2));
  rt.submit([] {}).get();
  rt.wait_all();
  std::this_thread::sleep_for(200ms);  // let the workers park
  auto cpu0 = test::process_cpu_time();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(1s);
  auto cpu = test::process_cpu_time() - cpu0;
  auto wall = std::chrono::steady_clock::now() - t0;
  double ratio = std::chrono::duration<double>(cpu).count() / std::chrono::duration<double>(wall).count();
  EXPECT_LT(ratio, 0.01) << "CPU/wall while idle: " << ratio;
}

TEST(Watchdog, DisabledWatchdogMeansNoThreadAndAlwaysResponsive) {
  RuntimeOptions o;
  o.threads = 1;
  o.watchdog.interval = 0ms;
  Runtime rt(o);
  EXPECT_EQ(rt.watchdog(), nullptr);
  EXPECT_TRUE(rt.is_responsive());
  rt.shutdown();
  EXPECT_FALSE(rt.is_responsive());
}

TEST(DurationParsing, NumbersAreMillisecondsAndStringsMayCarryAUnit) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("100"), 100ms);
  EXPECT_EQ(parse_duration(" 20 us "), 20us);
  EXPECT_EQ(duration_from_ms(2.5), 2500us);
  EXPECT_EQ(duration_from_ms(0), 0ns);
}

TEST(DurationParsing, RejectsNegativeNanAndGarbage) {
  for (const char* bad : {"-1", "-5s", "nan", "NaNms", "abc", "", "10 parsecs", "inf", "1e30h"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(duration_from_ms(-1), std::invalid_argument);
  EXPECT_THROW(duration_from_ms(std::nan("")), std::invalid_argument);
}

TEST(Watchdog, CoroutineTaskTimesOutAfterItsFirstSuspension) {
  // Declared before the runtime: a timed-out body keeps running until it
  // notices, so these must outlive the runtime's shutdown.
  std::atomic<bool> stopped_cooperatively{false};
  std::atomic<bool> exit_loop{false};
  Runtime rt(fast_watchdog(2));
  rt.set_default_task_timeout(50ms);
  // Between resumptions no worker slot shows this task: the watchdog must
  // still see its deadline.
  auto body = [&]() -> Task<int> {
    for (int i = 0; i < 2000 && !exit_loop.load(); ++i) {
      co_await yield_now();
      std::this_thread::sleep_for(1ms);
    }
    stopped_cooperatively = exit_loop.load();
    co_return 1;
  };
  auto h = rt.submit(body());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(h.get(), TaskTimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  exit_loop = true;
  // wait_all() does not wait for it: a timed-out task is settled.
  EXPECT_TRUE(wait_until([&] { return stopped_cooperatively.load(); }, 5s));
}

TEST(Watchdog, FinishedTasksLeaveTheDeadlineSet) {
  Runtime rt(fast_watchdog(2));
  rt.set_default_task_timeout(10s);
  auto probe = std::make_shared<int>(0);
  std::weak_ptr<int> watch = probe;
  for (int i = 0; i < 100; ++i) rt.submit([p = probe] { return *p; }).get();
  probe.reset();
  rt.wait_all();
  // Each task's callable (and its capture) is gone once it finished: nothing
  // in the deadline set keeps them alive.
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(rt.registry().totals().completed, 100u);
}
