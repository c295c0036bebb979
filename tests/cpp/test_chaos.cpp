// Chaos: the hazards of issue 10 mixed at random, for a while, against
// invariants a user relies on. Each round builds a runtime and throws at it,
// from several threads at once:
//   plain, failing, nested (get() inside a task), coroutine tasks that hop
//   pools; pairs of tasks that hand off through a semaphore (invisible
//   blocking); cancels; per-task timeouts set to land at about the moment
//   tasks finish; tasks completed later by a foreign thread; a failure hook
//   that submits, and that tries wait_all() and shutdown() (refused);
// then destroys the runtime while some handles and foreign completers are
// still around. Invariants: no get() ever hangs, every handle ends in a
// final state its kind allows, no body runs twice, the registry adds up,
// and (under ASan/TSan) no report.
//
// Duration: DFTRACER_CHAOS_SECONDS (default 4; CI's TSan pass runs it short,
// the long form is scripts/chaos.sh). Seed: DFTRACER_CHAOS_SEED.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dftracer/utils/core/pool_hop.hpp"
#include "dftracer/utils/core/runtime.hpp"
#include "pending_task.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::PendingTask;

namespace {

double env_number(const char* name, double fallback) {
  if (const char* v = std::getenv(name)) {
    char* end = nullptr;
    double d = std::strtod(v, &end);
    if (end != v && d > 0) return d;
  }
  return fallback;
}

struct ChaosError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Counters {
  std::atomic<std::uint64_t> bodies{0};
  std::atomic<std::uint64_t> double_runs{0};
  std::atomic<std::uint64_t> hangs{0};
  std::atomic<std::uint64_t> wrong_outcome{0};
  std::atomic<std::uint64_t> hook_refusals{0};
  std::atomic<std::uint64_t> tasks{0};
};

// One round: a runtime, a few submitting threads, then teardown.
void chaos_round(std::uint64_t seed, Counters& c) {
  std::mt19937_64 rng(seed);
  RuntimeOptions o;
  o.threads = 1 + rng() % 3;
  o.io_threads = 1 + rng() % 2;
  o.watchdog.interval = std::chrono::milliseconds(1 + rng() % 5);
  o.watchdog.starvation_threshold = 20ms;
  // Invisible hand-offs can block more workers than `threads`: only the
  // watchdog's temporary workers can run their releasers, so let it add
  // enough of them (the hand-off tests in test_wakeups pin the idle
  // protocol itself, with no watchdog at all).
  o.max_temporary_workers = 64;
  auto rt = std::make_unique<Runtime>(o);
  Runtime* raw = rt.get();
  if (rng() % 2) rt->set_default_task_timeout(std::chrono::microseconds(200 + rng() % 2000));
  rt->set_failure_hook([raw, &c](TaskState& t) {
    // Callbacks that submit, and that try to wait or shut down from inside.
    if (t.id() % 3 == 0) {
      try {
        (void)raw->submit([] {}, "from-hook");
      } catch (const RuntimeShutdownError&) {}
    }
    if (t.id() % 5 == 0) {
      try {
        raw->wait_all();
      } catch (const std::logic_error&) {
        c.hook_refusals.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });

  std::vector<std::thread> foreign;
  std::mutex foreign_mu;
  const int submitters = 2 + static_cast<int>(rng() % 2);
  std::vector<std::thread> threads;
  std::vector<std::vector<TaskHandle<int>>> kept(static_cast<std::size_t>(submitters));
  for (int s = 0; s < submitters; ++s) {
    threads.emplace_back([&, s, sub_seed = rng()] {
      std::mt19937_64 r(sub_seed);
      const int n = 40 + static_cast<int>(r() % 60);
      for (int i = 0; i < n; ++i) {
        auto ran = std::make_shared<std::atomic<int>>(0);
        auto body_once = [ran, &c] {
          c.bodies.fetch_add(1, std::memory_order_relaxed);
          if (ran->fetch_add(1) != 0) c.double_runs.fetch_add(1);
        };
        c.tasks.fetch_add(1, std::memory_order_relaxed);
        try {
          switch (r() % 9) {
            case 0:
              kept[s].push_back(rt->submit([body_once] {
                body_once();
                return 1;
              }));
              break;
            case 1:
              kept[s].push_back(rt->submit([body_once]() -> int {
                body_once();
                throw ChaosError("chaos");
              }));
              break;
            case 2:  // nested get(), maybe on the I/O pool
              kept[s].push_back(rt->submit([raw, body_once, io = r() % 2] {
                body_once();
                auto inner = raw->submit([] { return 2; }, "inner", io ? Pool::io : Pool::compute);
                return inner.get();
              }));
              break;
            case 3: {  // an invisible hand-off between two tasks
              auto sem = std::make_shared<std::binary_semaphore>(0);
              kept[s].push_back(rt->submit([sem, body_once] {
                body_once();
                return sem->try_acquire_for(10s) ? 3 : -3;
              }));
              (void)rt->submit([sem] { sem->release(); }, "release");
              break;
            }
            case 4:  // a coroutine that hops pools
              kept[s].push_back(rt->submit([body_once]() -> Task<int> {
                body_once();
                co_await on_io();
                co_await on_compute();
                co_return 4;
              }));
              break;
            case 5: {  // cancelled right away (or not, if it already ran)
              auto h = rt->submit([body_once] {
                body_once();
                return 5;
              });
              h.cancel();
              kept[s].push_back(std::move(h));
              break;
            }
            case 6: {  // finished by a foreign thread, maybe with an error
              auto* p = new PendingTask("pending");
              TaskStateRef ref = TaskStateRef::adopt(p);
              rt->submit_state(*p);
              std::lock_guard lock(foreign_mu);
              foreign.emplace_back([ref, delay = r() % 500, fail = r() % 2] {
                std::this_thread::sleep_for(std::chrono::microseconds(delay));
                if (fail) {
                  ref->finish_failure(std::make_exception_ptr(ChaosError("foreign")));
                } else {
                  ref->finish_success();
                }
              });
              break;
            }
            case 7:  // a short sleep: lands on the per-task timeout
              kept[s].push_back(rt->submit([body_once, us = 100 + r() % 2000] {
                body_once();
                std::this_thread::sleep_for(std::chrono::microseconds(us));
                return 7;
              }));
              break;
            default:  // a handle dropped at once
              (void)rt->submit([body_once] {
                body_once();
                return 8;
              });
          }
        } catch (const RuntimeShutdownError&) {}
        if (r() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(r() % 200));
      }
    });
  }
  for (auto& t : threads) t.join();

  // Every kept handle finishes, in a final state its kind allows.
  for (auto& list : kept) {
    for (auto& h : list) {
      if (!h.wait_for(30s)) {
        c.hangs.fetch_add(1);
        std::fprintf(stderr, "hung: task %llu '%s' status %s; workers:", static_cast<unsigned long long>(h.id()),
                     h.name().c_str(), std::string(to_string(h.status())).c_str());
        for (Executor* ex : {&rt->compute(), &rt->io()}) {
          for (const auto& w : ex->workers_view()) {
            std::fprintf(stderr, " [%s %u act=%d task=%llu]", ex->name().c_str(), w.index, static_cast<int>(w.activity),
                         static_cast<unsigned long long>(w.task_id));
          }
        }
        std::fprintf(stderr, " queued=%zu live=%zu\n", rt->compute().queued_hint(), rt->registry().live_tasks().size());
        continue;
      }
      if (!is_final(h.status())) c.wrong_outcome.fetch_add(1);
    }
  }
  if (!rt->wait_all_for(30s)) c.hangs.fetch_add(1);
  RegistryTotals t = rt->registry().totals();
  if (t.queued != 0 || t.running != 0) c.wrong_outcome.fetch_add(1);
  if (rng() % 2) {
    // Destroyed with foreign completers possibly still inside finish(), and
    // with handles kept past the runtime's life.
    rt.reset();
  } else {
    rt->shutdown(rng() % 2);
    rt.reset();
  }
  for (auto& f : foreign) f.join();
  for (auto& list : kept) {
    for (auto& h : list) {
      if (!h.done()) c.wrong_outcome.fetch_add(1);
    }
  }
}

}  // namespace

TEST(Chaos, MixedHazardsKeepEveryInvariant) {
  const double seconds = env_number("DFTRACER_CHAOS_SECONDS", 4.0);
  const auto base_seed = static_cast<std::uint64_t>(env_number("DFTRACER_CHAOS_SEED", 20261201));
  Counters c;
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::uint64_t rounds = 0;
  while (std::chrono::steady_clock::now() < until || rounds < 3) {
    chaos_round(base_seed + rounds, c);
    ++rounds;
    ASSERT_EQ(c.hangs.load(), 0u) << "a wait hung in round " << rounds << " (seed " << base_seed + rounds - 1 << ")";
    ASSERT_EQ(c.double_runs.load(), 0u) << "a body ran twice (seed " << base_seed + rounds - 1 << ")";
    ASSERT_EQ(c.wrong_outcome.load(), 0u) << "round " << rounds << " (seed " << base_seed + rounds - 1 << ")";
  }
  std::printf("chaos: %llu rounds, %llu tasks, %llu bodies, %llu callback refusals in %.0f s\n",
              static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(c.tasks.load()),
              static_cast<unsigned long long>(c.bodies.load()), static_cast<unsigned long long>(c.hook_refusals.load()),
              seconds);
  EXPECT_GT(c.bodies.load(), 0u);
}
