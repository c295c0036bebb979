// Shared plumbing of the C++ benchmarks: options (thread counts, quick mode),
// one cached pool per thread count for each implementation, the measuring
// loop that turns elapsed time into ns*core/task, and two small primitives
// (a latch and a fire-and-forget coroutine) that several cases use.
//
// Naming: every benchmark is "<case>/<impl>/threads:<N>". <case> carries the
// size ("fib/n:30"), <impl> is "ours", "ours_<variant>", "tbb" or "serial".
// The summary printer (main.cpp) and compare.py pair "ours*" with "tbb" rows of
// the same case and thread count.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "dftracer/utils/all.hpp"

#if DFTRACER_BENCH_HAVE_TBB
#include <oneapi/tbb/task_arena.h>
#endif

namespace dft_bench {

namespace dft = dftracer::utils;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<int> threads;  // sorted, unique; always holds 1 and 2
  bool quick = false;        // tiny sizes for CI (ctest -L bench)
};
const Options& options();
void set_options(Options o);

// Pools are built once per configuration and reused by every case, so pool
// start-up never lands in a measurement. Runtime(threads=N, io_threads=1),
// everything else at the engine's defaults (the watchdog included) unless
// `watchdog_interval` is given (0: no watchdog thread).
inline constexpr std::chrono::milliseconds kEngineDefault{-1};
dft::Runtime& ours_runtime(int threads, std::chrono::milliseconds watchdog_interval = kEngineDefault);
#if DFTRACER_BENCH_HAVE_TBB
// N threads in all, the calling thread included (fork-join: the caller joins
// in through arena.execute, as tbb users write it).
tbb::task_arena& tbb_arena(int threads);
// N worker threads, none reserved for the caller (external submission: the
// caller only enqueues, like a thread outside our pool).
tbb::task_arena& tbb_worker_arena(int threads);
#endif
// Destroys every cached pool (end of main).
void release_pools();

// Marks the run as wrong (a benchmark computed a wrong result): main() then
// exits non-zero, so `ctest -L bench` catches a broken engine, never a slow one.
void fail(benchmark::State& st, const std::string& why);
bool any_failure();

// CPU time (user + system) of the whole process so far, in ns.
double process_cpu_ns() noexcept;

// Runs `once` per benchmark iteration; `once` returns how many tasks it ran.
// Reports manual time plus counters:
//   ns_per_task       elapsed ns / tasks
//   ns_core_per_task  elapsed ns * threads / tasks  (the figure docs/design.md's goals use)
//   cpu_ns_per_task   CPU time of the whole process / tasks: what the tasks
//                     cost in CPU, spinning included; less sensitive than
//                     elapsed time to other load on the machine
//   tasks             tasks per iteration
template <class F>
void measure(benchmark::State& st, int threads, F&& once) {
  double total_ns = 0;
  std::uint64_t total_tasks = 0;
  double cpu0 = process_cpu_ns();
  for (auto _ : st) {
    auto t0 = Clock::now();
    std::uint64_t n = once();
    auto t1 = Clock::now();
    double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    st.SetIterationTime(ns * 1e-9);
    total_ns += ns;
    total_tasks += n;
  }
  double cpu = process_cpu_ns() - cpu0;
  if (total_tasks == 0) return;
  st.counters["cpu_ns_per_task"] = cpu / static_cast<double>(total_tasks);
  double per = total_ns / static_cast<double>(total_tasks);
  st.counters["ns_per_task"] = per;
  st.counters["ns_core_per_task"] = per * threads;
  st.counters["tasks"] = static_cast<double>(total_tasks) / static_cast<double>(st.iterations());
  st.counters["threads"] = threads;
}

// Registers fn under "<case>/<impl>/threads:<N>" with manual time in ms.
benchmark::internal::Benchmark* add(const std::string& case_name, const std::string& impl, int threads,
                                    std::function<void(benchmark::State&)> fn);

// Counts down to zero; one waiter. The last count_down wakes it.
class Latch {
 public:
  explicit Latch(std::int32_t n) : n_(n) {}
  void count_down() noexcept {
    // acq_rel: the waiter sees everything the counted tasks wrote.
    if (n_.fetch_sub(1, std::memory_order_acq_rel) == 1) n_.notify_all();
  }
  void wait() const noexcept {
    for (std::int32_t v = n_.load(std::memory_order_acquire); v != 0; v = n_.load(std::memory_order_acquire)) {
      n_.wait(v, std::memory_order_acquire);
    }
  }

 private:
  std::atomic<std::int32_t> n_;
};

// A raw coroutine that frees itself when it ends: what Executor::schedule
// carries without any TaskState. Frames come from the engine's FramePool.
struct Detached {
  struct promise_type : dft::detail::FrameAllocated {
    Detached get_return_object() noexcept { return Detached{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

// fib as the fork-join kernels define it (cases_fork_join.cpp), for cases
// that reuse it: the coroutine, its result and its number of calls (tasks).
dft::Task<std::uint64_t> fib_task(int n);
std::uint64_t fib_result(int n);
std::uint64_t fib_calls(int n);

// Case registration, one function per source file.
void register_fork_join();
void register_spawn();
void register_latency();
void register_watchdog();
void register_parallel();

}  // namespace dft_bench
