// No lost wake-up: work that is pushed while workers go idle always runs,
// even when every other task blocks where the pool cannot see it (a
// semaphore, a condition variable: what Python tasks do with queue.Queue).
// The watchdog is off in these tests, so nothing rescues a missed wake: a
// lost one shows as a consumer that waits out its (long) deadline.
//
// The idle protocol itself is model-checked (tests/model/idle_protocol.pml);
// these tests hammer the implementation with random gaps between the steps.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <semaphore>
#include <thread>

#include "dftracer/utils/core/runtime.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::scaled;

namespace {

// Generous: a consumer that is merely slow to be scheduled (sanitizers, a
// loaded CI machine) is never mistaken for a lost wake-up.
constexpr auto kHandOffDeadline = 20s;

RuntimeOptions no_watchdog(std::size_t threads) {
  RuntimeOptions o;
  o.threads = threads;
  o.io_threads = 1;
  o.watchdog.interval = 0ms;
  return o;
}

// Busy-waits a random 0-80 us: lands the next step anywhere in the other
// threads' spin, search and park sequence.
void random_gap(std::minstd_rand& rng) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 80);
  while (std::chrono::steady_clock::now() < until) {}
}

}  // namespace

// The Python face of the bug: a consumer task blocks invisibly on a
// semaphore that only a task submitted later, from outside, releases.
TEST(Wakeups, OutsideProducerAlwaysReachesAnIdleWorker) {
  Runtime rt(no_watchdog(2));
  std::minstd_rand rng(1);
  const std::size_t rounds = scaled(20'000, 300);
  for (std::size_t i = 0; i < rounds; ++i) {
    std::binary_semaphore sem{0};
    auto consumer = rt.submit([&sem] { return sem.try_acquire_for(kHandOffDeadline); });
    random_gap(rng);
    auto producer = rt.submit([&sem] { sem.release(); });
    ASSERT_TRUE(consumer.get()) << "round " << i << ": the producer was never run (lost wake-up)";
    producer.get();
  }
}

// The producer is pushed from inside the consumer, onto the consumer's own
// deque, right before the consumer blocks invisibly: the other worker must
// be woken (or must re-check before parking) to steal it.
TEST(Wakeups, WorkerPushedProducerIsStolenWhileItsOwnerBlocksInvisibly) {
  Runtime rt(no_watchdog(2));
  std::minstd_rand rng(2);
  const std::size_t rounds = scaled(20'000, 300);
  for (std::size_t i = 0; i < rounds; ++i) {
    std::binary_semaphore sem{0};
    std::uint32_t gap = static_cast<std::uint32_t>(rng());
    auto consumer = rt.submit([&rt, &sem, gap] {
      std::minstd_rand local(gap);
      random_gap(local);
      auto producer = rt.submit([&sem] { sem.release(); });
      bool got = sem.try_acquire_for(kHandOffDeadline);
      producer.wait();
      return got;
    });
    ASSERT_TRUE(consumer.get()) << "round " << i << ": the pushed producer was never stolen (lost wake-up)";
    random_gap(rng);
  }
}

// A child coroutine spawned onto the worker's deque while the parent then
// blocks invisibly: the same hand-off through the raw executor path.
TEST(Wakeups, SpawnedChildOfAnInvisiblyBlockedParentRuns) {
  Runtime rt(no_watchdog(2));
  std::minstd_rand rng(3);
  const std::size_t rounds = scaled(10'000, 200);
  for (std::size_t i = 0; i < rounds; ++i) {
    auto sem = std::make_shared<std::binary_semaphore>(0);
    std::atomic<bool> child_ran{false};
    Executor& ex = rt.compute();
    auto parent = rt.submit([&ex, sem, &child_ran] {
      struct Fire {
        struct promise_type {
          Fire get_return_object() noexcept { return Fire{std::coroutine_handle<promise_type>::from_promise(*this)}; }
          std::suspend_always initial_suspend() noexcept { return {}; }
          std::suspend_never final_suspend() noexcept { return {}; }
          void return_void() noexcept {}
          void unhandled_exception() noexcept { std::terminate(); }
        };
        std::coroutine_handle<promise_type> h;
      };
      auto body = [](std::shared_ptr<std::binary_semaphore> s, std::atomic<bool>* ran) -> Fire {
        ran->store(true);
        s->release();
        co_return;
      };
      Fire f = body(sem, &child_ran);
      ex.schedule(WorkItem::coroutine(f.h));  // our own deque
      return sem->try_acquire_for(kHandOffDeadline);
    });
    ASSERT_TRUE(parent.get()) << "round " << i << ": the spawned child never ran (lost wake-up)";
    ASSERT_TRUE(child_ran.load());
    random_gap(rng);
  }
}

// One compute worker: a task blocks visibly (get() on a task of the I/O
// pool), so a spare starts; the spare retires as soon as it finds itself
// surplus. A task submitted around that retirement must still run, with no
// later submission to wake anyone.
TEST(Wakeups, RetiringSpareNeverStrandsAnItem) {
  Runtime rt(no_watchdog(1));
  std::minstd_rand rng(4);
  const std::size_t rounds = scaled(20'000, 300);
  for (std::size_t i = 0; i < rounds; ++i) {
    std::uint32_t gap = static_cast<std::uint32_t>(rng());
    auto io = rt.submit(
        [gap] {
          std::minstd_rand local(gap);
          random_gap(local);
        },
        "io", Pool::io);
    auto blocker = rt.submit([&io] { io.get(); });  // visible: a spare covers for us meanwhile
    random_gap(rng);
    auto late = rt.submit([] {});
    ASSERT_TRUE(late.wait_for(kHandOffDeadline)) << "round " << i << ": a task stayed queued with every worker idle";
    blocker.get();
  }
}

// The same with the only regular worker then blocking invisibly: nothing in
// the pool can run the late task once the spare is gone, so this is the
// watchdog's job (starvation: a temporary worker), and it must do it.
TEST(Wakeups, WatchdogRescuesATaskQueuedBehindAnInvisiblyBlockedWorker) {
  RuntimeOptions o = no_watchdog(1);
  o.watchdog.interval = 10ms;
  o.watchdog.starvation_threshold = 50ms;
  Runtime rt(o);
  std::binary_semaphore sem{0};
  auto blocker = rt.submit([&sem] { return sem.try_acquire_for(kHandOffDeadline); });
  auto producer = rt.submit([&sem] { sem.release(); });
  EXPECT_TRUE(blocker.get());
  producer.get();
  ASSERT_NE(rt.watchdog(), nullptr);
  EXPECT_GE(rt.watchdog()->temporary_workers_added(), 1u);
}
