// Idle-pool case: wake_latency.
//
// wake_latency: the pool sits idle (nothing queued anywhere) for `idle`, then
// one task is submitted from outside; we time submit-call-start to the first
// instruction of the task body. Reported: p50/p99/max of that latency over the
// iterations, and the CPU the whole process burned while idle (getrusage),
// as a percentage of one core: a pool that spins when idle shows here.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace dft_bench {

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: with fewer than 100 samples p99 is the maximum.
  std::size_t rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  if (rank == 0) rank = 1;
  if (rank > v.size()) rank = v.size();
  return v[rank - 1];
}

// submit_and_wait(started, submitted) submits one task that stores
// Clock::now() into `started` (as ns since the clock's epoch), stores the
// time the submit call returned into `submitted`, and waits for the task.
template <class SubmitAndWait>
void run_wake_latency(benchmark::State& st, int threads, std::chrono::milliseconds idle,
                      SubmitAndWait submit_and_wait) {
  std::vector<double> latencies, submit_costs;
  double idle_cpu = 0, idle_wall = 0;
  for (auto _ : st) {
    double c0 = process_cpu_ns();
    auto w0 = Clock::now();
    std::this_thread::sleep_for(idle);
    double c1 = process_cpu_ns();
    auto w1 = Clock::now();
    idle_cpu += c1 - c0;
    idle_wall += std::chrono::duration<double, std::nano>(w1 - w0).count();

    std::atomic<std::int64_t> started{0}, submitted{0};
    auto t0 = Clock::now();
    submit_and_wait(started, submitted);
    auto t0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
    double ns = static_cast<double>(started.load(std::memory_order_acquire) - t0_ns);
    latencies.push_back(ns);
    submit_costs.push_back(static_cast<double>(submitted.load(std::memory_order_acquire) - t0_ns));
    st.SetIterationTime(ns * 1e-9);
  }
  st.counters["p50_us"] = percentile(latencies, 50) / 1e3;
  st.counters["p99_us"] = percentile(latencies, 99) / 1e3;
  st.counters["max_us"] = percentile(latencies, 100) / 1e3;
  // How much of the latency is the submit call itself (allocation, queueing,
  // the wake syscall), measured on the submitting thread.
  st.counters["submit_p50_us"] = percentile(submit_costs, 50) / 1e3;
  st.counters["idle_cpu_pct"] = idle_wall > 0 ? 100.0 * idle_cpu / idle_wall : 0;
  st.counters["threads"] = threads;
}

inline void stamp(std::atomic<std::int64_t>& started) {
  started.store(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(),
                std::memory_order_release);
}

void register_wake_latency(int iterations, std::chrono::milliseconds idle) {
  std::string name = "wake_latency/idle_ms:" + std::to_string(idle.count());
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      run_wake_latency(st, t, idle, [&](std::atomic<std::int64_t>& started, std::atomic<std::int64_t>& submitted) {
        auto h = rt.submit([&started] { stamp(started); });
        stamp(submitted);
        h.wait();
      });
    })->Iterations(iterations);
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_worker_arena(t);
      run_wake_latency(st, t, idle, [&](std::atomic<std::int64_t>& started, std::atomic<std::int64_t>& submitted) {
        Latch done(1);
        arena.enqueue([&] {
          stamp(started);
          done.count_down();
        });
        stamp(submitted);
        done.wait();
      });
    })->Iterations(iterations);
#endif
  }
}

}  // namespace

void register_latency() {
  if (options().quick) {
    register_wake_latency(3, std::chrono::milliseconds(10));
  } else {
    register_wake_latency(30, std::chrono::milliseconds(100));
  }
}

}  // namespace dft_bench
