// Stress: a million tasks from four outside threads with random nesting and
// random failures; steal-heavy fork-join; shutdown racing with submit.
// Sizes scale with DFTRACER_STRESS_SCALE (default 1.0 = full size).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "fib.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::scaled;

using test::fib;
using test::fib_seq;

namespace {

std::uint64_t mix(std::uint64_t x) {
  // splitmix64 finaliser: a deterministic "random" kind per task index.
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct StressError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Nested blocking chain: each level submits the next and get()s it.
std::uint64_t nested(Runtime& rt, int depth, std::atomic<std::uint64_t>& children) {
  if (depth == 0) return 0;
  children.fetch_add(1, std::memory_order_relaxed);
  auto h = rt.submit([&rt, depth, &children] { return nested(rt, depth - 1, children); });
  return h.get() + 1;
}

}  // namespace

// Every task body runs exactly once, every handle reaches exactly the final
// state its kind dictates, and the registry's totals add up.
TEST(Stress, MillionTasksFromFourThreadsWithNestingAndFailures) {
  Runtime rt({.threads = 2, .io_threads = 1});
  const std::size_t submitters = 4;
  const std::size_t per_thread = scaled(250'000, 2'000);
  const std::size_t total = submitters * per_thread;
  const std::size_t window = 512;

  auto runs = std::make_unique<std::atomic<std::uint8_t>[]>(total);
  for (std::size_t i = 0; i < total; ++i) runs[i].store(0, std::memory_order_relaxed);
  std::atomic<std::uint64_t> children{0};         // submitted by tasks
  std::atomic<std::uint64_t> expected_failed{0};  // roots that must fail
  std::atomic<std::uint64_t> hook_calls{0};
  std::atomic<std::uint64_t> wrong{0};
  rt.set_failure_hook([&](TaskState&) { hook_calls.fetch_add(1, std::memory_order_relaxed); });

  auto submit_one = [&](std::size_t i) -> TaskHandle<std::uint64_t> {
    const std::uint64_t r = mix(i);
    const unsigned kind = static_cast<unsigned>(r % 20);
    auto mark = [&runs, i] { runs[i].fetch_add(1, std::memory_order_relaxed); };
    switch (kind) {
      case 0:
      case 1:  // fails
        return rt.submit([mark, i]() -> std::uint64_t {
          mark();
          throw StressError("task " + std::to_string(i));
        });
      case 2:  // nested blocking get(), 1..4 levels
        return rt.submit([&rt, &children, mark, r]() -> std::uint64_t {
          mark();
          return nested(rt, static_cast<int>(1 + (r >> 8) % 4), children);
        });
      case 3:  // fork-join inside a coroutine task
        return rt.submit([mark, r]() -> Task<std::uint64_t> {
          mark();
          co_return co_await fib(static_cast<int>(3 + (r >> 8) % 6));
        });
      case 4:  // awaits a child task's handle; the child sometimes fails
        return rt.submit([&rt, &children, mark, r]() -> Task<std::uint64_t> {
          mark();
          children.fetch_add(1, std::memory_order_relaxed);
          bool child_fails = ((r >> 8) & 1) != 0;
          auto child = rt.submit([child_fails]() -> std::uint64_t {
            if (child_fails) throw StressError("child");
            return 1;
          });
          try {
            co_return co_await child;
          } catch (const StressError&) {
            co_return 0;
          }
        });
      case 5:  // yields, so it resumes from the injection queue
        return rt.submit([mark]() -> Task<std::uint64_t> {
          mark();
          co_await yield_now();
          co_return 5;
        });
      default:
        return rt.submit([mark, i]() -> std::uint64_t {
          mark();
          return i;
        });
    }
  };
  auto expected_value = [&](std::size_t i, std::uint64_t& value) -> bool {  // false: must fail
    const std::uint64_t r = mix(i);
    switch (static_cast<unsigned>(r % 20)) {
      case 0:
      case 1:
        return false;
      case 2:
        value = 1 + (r >> 8) % 4;
        return true;
      case 3:
        value = fib_seq(static_cast<int>(3 + (r >> 8) % 6));
        return true;
      case 4:
        value = ((r >> 8) & 1) ? 0 : 1;
        return true;
      case 5:
        value = 5;
        return true;
      default:
        value = i;
        return true;
    }
  };

  auto check = [&](std::size_t i, TaskHandle<std::uint64_t>& h) {
    std::uint64_t want = 0;
    bool ok = expected_value(i, want);
    try {
      std::uint64_t got = h.get();
      if (!ok || got != want || h.status() != TaskStatus::completed) wrong.fetch_add(1);
    } catch (const StressError&) {
      if (ok || h.status() != TaskStatus::failed) wrong.fetch_add(1);
    }
    if (!ok) expected_failed.fetch_add(1, std::memory_order_relaxed);
  };

  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < submitters; ++t) {
    threads.emplace_back([&, t] {
      // Keep a bounded window of handles; check the oldest as we go, so
      // get() from outside races with the workers finishing them.
      std::vector<TaskHandle<std::uint64_t>> pending;
      std::vector<std::size_t> index;
      pending.reserve(window);
      index.reserve(window);
      for (std::size_t k = 0; k < per_thread; ++k) {
        std::size_t i = t * per_thread + k;
        pending.push_back(submit_one(i));
        index.push_back(i);
        if (pending.size() == window) {
          for (std::size_t j = 0; j < window; ++j) check(index[j], pending[j]);
          pending.clear();
          index.clear();
        }
      }
      for (std::size_t j = 0; j < pending.size(); ++j) check(index[j], pending[j]);
    });
  }
  for (auto& t : threads) t.join();
  rt.wait_all();
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%zu root tasks + %llu children in %.2f s\n", total, static_cast<unsigned long long>(children.load()),
              elapsed);

  EXPECT_EQ(wrong.load(), 0u);
  std::size_t not_once = 0;
  for (std::size_t i = 0; i < total; ++i) not_once += runs[i].load(std::memory_order_relaxed) != 1;
  EXPECT_EQ(not_once, 0u) << "task bodies that did not run exactly once";

  auto totals = rt.registry().totals();
  const std::uint64_t submitted = total + children.load();
  // Children of kind 4 fail half the time; count them from the kinds.
  std::uint64_t child_failures = 0;
  for (std::size_t i = 0; i < total; ++i) {
    std::uint64_t r = mix(i);
    if (r % 20 == 4 && ((r >> 8) & 1)) ++child_failures;
  }
  EXPECT_EQ(totals.submitted, submitted);
  EXPECT_EQ(totals.failed, expected_failed.load() + child_failures);
  EXPECT_EQ(totals.completed, submitted - totals.failed);
  EXPECT_EQ(totals.cancelled, 0u);
  EXPECT_EQ(totals.queued + totals.running, 0u);
  EXPECT_EQ(hook_calls.load(), totals.failed);
  EXPECT_EQ(rt.active(), 0u);
}

// Many concurrent fork-join trees over few workers: lots of stealing and
// joins completed on the other thread.
TEST(Stress, StealHeavyFibIsCorrectOnManyThreadCounts) {
  const int n = test::kUnderSanitizer ? 20 : 27;
  const std::uint64_t want = fib_seq(n);
  for (std::size_t threads : {1u, 2u, 3u, 8u}) {
    Runtime rt({.threads = threads, .io_threads = 1});
    EXPECT_EQ(sync_wait(rt, fib(n)), want) << threads << " threads";
    // Several trees at once, from outside threads.
    std::vector<std::thread> callers;
    std::atomic<int> right{0};
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&] {
        if (sync_wait(rt, fib(n - 4)) == fib_seq(n - 4)) right.fetch_add(1);
      });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(right.load(), 4) << threads << " threads";
  }
}

// Submitters from outside and from tasks keep going while shutdown (with or
// without waiting) closes the runtime: no hang, no crash, every accepted
// task ends final, and submit fails with RuntimeShutdownError afterwards.
TEST(Stress, ShutdownRacingWithSubmit) {
  const int iterations = static_cast<int>(scaled(1000, 50));
  std::uint64_t accepted_total = 0, refused_total = 0;
  for (int it = 0; it < iterations; ++it) {
    Runtime rt({.threads = 2, .io_threads = 1});
    const bool wait = it % 2 == 0;
    std::atomic<bool> go{false};
    std::atomic<bool> closing{false};
    std::atomic<int> submitted{0};
    std::atomic<std::uint64_t> refused{0};
    std::vector<std::vector<TaskHandle<int>>> accepted(2);
    std::vector<std::thread> submitters;
    for (int s = 0; s < 2; ++s) {
      submitters.emplace_back([&, s] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (int k = 0;; ++k) {
          // A bounded head start, then hammer while shutdown runs.
          if (k == 400) {
            while (!closing.load(std::memory_order_acquire)) std::this_thread::yield();
          }
          try {
            if (k % 3 == 0) {
              accepted[s].push_back(rt.submit([] {
                // Submits from inside while the runtime closes: refused once
                // closed, or cancelled by shutdown(false) before it ran.
                try {
                  return Runtime::current()->submit([] { return 1; }).get();
                } catch (const RuntimeShutdownError&) {
                  return 0;
                } catch (const TaskCancelledError&) {
                  return 0;
                }
              }));
            } else if (k % 3 == 1) {
              accepted[s].push_back(rt.submit([]() -> Task<int> {
                co_await yield_now();
                co_return 2;
              }));
            } else {
              accepted[s].push_back(rt.submit([k] { return k; }));
            }
            submitted.fetch_add(1, std::memory_order_relaxed);
          } catch (const RuntimeShutdownError&) {
            refused.fetch_add(1);
            return;
          }
        }
      });
    }
    go.store(true, std::memory_order_release);
    // Let some submissions through first, sometimes none at all.
    const int head_start = (it % 7) * 100;
    while (submitted.load(std::memory_order_relaxed) < head_start) std::this_thread::yield();
    closing.store(true, std::memory_order_release);
    rt.shutdown(wait);
    for (auto& t : submitters) t.join();
    ASSERT_EQ(refused.load(), 2u) << "iteration " << it;
    EXPECT_THROW((void)rt.submit([] { return 0; }), RuntimeShutdownError);
    for (auto& list : accepted) {
      for (auto& h : list) {
        ASSERT_TRUE(h.done()) << "iteration " << it;
        TaskStatus s = h.status();
        if (wait)
          ASSERT_EQ(s, TaskStatus::completed) << "iteration " << it;
        else
          ASSERT_TRUE(s == TaskStatus::completed || s == TaskStatus::cancelled) << "iteration " << it;
        ++accepted_total;
      }
    }
    EXPECT_EQ(rt.active(), 0u);
    refused_total += refused.load();
  }
  std::printf("%d iterations: %llu accepted, %llu refused\n", iterations,
              static_cast<unsigned long long>(accepted_total), static_cast<unsigned long long>(refused_total));
}

// cancel() from another thread races the workers claiming the same tasks:
// each task either ran exactly once and completed, or never ran and is
// cancelled; never both, never neither.
TEST(Stress, CancelRacingWithRunEndsEachTaskExactlyOneWay) {
  Runtime rt({.threads = 2, .io_threads = 1});
  const std::size_t n = scaled(200'000, 5'000);
  auto runs = std::make_unique<std::atomic<std::uint8_t>[]>(n);
  for (std::size_t i = 0; i < n; ++i) runs[i].store(0, std::memory_order_relaxed);
  std::vector<TaskHandle<void>> handles;
  handles.reserve(n);
  std::atomic<std::size_t> published{0};
  std::atomic<std::size_t> cancel_true{0};
  std::thread canceller([&] {
    std::size_t next = 0;
    while (next < n) {
      std::size_t avail = published.load(std::memory_order_acquire);
      for (; next < avail; ++next) {
        if (next % 2 == 0 && handles[next].cancel()) cancel_true.fetch_add(1);
      }
    }
  });
  for (std::size_t i = 0; i < n; ++i) {
    handles.push_back(rt.submit([&runs, i] { runs[i].fetch_add(1, std::memory_order_relaxed); }));
    if (i % 64 == 63 || i + 1 == n) published.store(i + 1, std::memory_order_release);
  }
  canceller.join();
  rt.wait_all();
  std::size_t bad = 0, cancelled = 0;
  for (std::size_t i = 0; i < n; ++i) {
    TaskStatus s = handles[i].status();
    std::uint8_t r = runs[i].load(std::memory_order_relaxed);
    if (s == TaskStatus::completed) {
      bad += r != 1;
    } else if (s == TaskStatus::cancelled) {
      bad += r != 0;
      ++cancelled;
    } else {
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(cancelled, cancel_true.load());
  auto totals = rt.registry().totals();
  EXPECT_EQ(totals.cancelled, cancelled);
  EXPECT_EQ(totals.completed + totals.cancelled, n);
}

// Many threads and coroutines wait on the same handles at once: every
// waiter is released, whether it blocks, spins or suspends.
TEST(Stress, ManyWaitersOnOneHandleAreAllReleased) {
  Runtime rt({.threads = 2, .io_threads = 1});
  const int rounds = static_cast<int>(scaled(300, 20));
  for (int round = 0; round < rounds; ++round) {
    std::atomic<bool> release{false};
    auto target = rt.submit([&] {
      while (!release.load(std::memory_order_acquire)) std::this_thread::yield();
      return round;
    });
    std::atomic<int> released{0};
    std::vector<std::thread> blockers;
    for (int t = 0; t < 4; ++t) {
      blockers.emplace_back([&] {
        if (target.get() == round) released.fetch_add(1);
      });
    }
    std::vector<TaskHandle<int>> awaiters;
    for (int c = 0; c < 8; ++c) {
      awaiters.push_back(rt.submit([&]() -> Task<int> { co_return co_await target; }));
    }
    if (round % 3 == 0) std::this_thread::sleep_for(100us);  // let some block
    release.store(true, std::memory_order_release);
    for (auto& t : blockers) t.join();
    for (auto& a : awaiters) ASSERT_EQ(a.get(), round);
    ASSERT_EQ(released.load(), 4) << "round " << round;
  }
}

// finish() takes no reference of its own while it releases waiters: a waiter
// that drops the last handle the moment it wakes must not free the task
// under the finishing worker (ASan checks this). Waiters here are threads
// blocked in get(), inline co_await continuations, and cancel() racing run.
TEST(Stress, WaitersDroppingTheLastHandleDuringFinishAreSafe) {
  Runtime rt({.threads = 2, .io_threads = 1});
  const int rounds = static_cast<int>(scaled(3000, 200));
  std::atomic<int> sum{0};
  for (int i = 0; i < rounds; ++i) {
    auto h = std::make_unique<TaskHandle<int>>(rt.submit([i] { return i; }));
    std::thread waiter([&sum, h = std::move(h)]() mutable {
      sum.fetch_add(h->get());
      h.reset();  // the last handle, possibly while the worker is still in finish()
    });
    auto c = rt.submit([] { return 1; });
    if (i % 2) (void)c.cancel();  // cancel() racing the run: one of them finishes
    c = {};                       // the queue entry's reference is the last one
    waiter.join();
  }
  rt.wait_all();
  EXPECT_EQ(sum.load(), rounds * (rounds - 1) / 2);
}
