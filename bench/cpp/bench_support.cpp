// Options, pool caches, failure tracking and registration (see bench_support.hpp).
#include "bench_support.hpp"

#include <sys/resource.h>

#include <map>
#include <memory>
#include <mutex>

namespace dft_bench {

namespace {
Options g_options{{1, 2}, false};
std::atomic<bool> g_failed{false};

std::mutex g_pools_mu;
std::map<std::pair<int, std::int64_t>, std::unique_ptr<dft::Runtime>> g_runtimes;
#if DFTRACER_BENCH_HAVE_TBB
std::map<int, std::unique_ptr<tbb::task_arena>> g_arenas;
std::map<int, std::unique_ptr<tbb::task_arena>> g_worker_arenas;
#endif
}  // namespace

double process_cpu_ns() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e9 + static_cast<double>(tv.tv_usec) * 1e3;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

const Options& options() { return g_options; }
void set_options(Options o) { g_options = std::move(o); }

dft::Runtime& ours_runtime(int threads, std::chrono::milliseconds watchdog_interval) {
  std::lock_guard lock(g_pools_mu);
  auto& slot = g_runtimes[{threads, watchdog_interval.count()}];
  if (!slot) {
    dft::RuntimeOptions o;
    o.threads = static_cast<std::size_t>(threads);
    o.io_threads = 1;  // idle in every case; kept small so it does not disturb
    if (watchdog_interval.count() >= 0) o.watchdog.interval = watchdog_interval;
    slot = std::make_unique<dft::Runtime>(o);
  }
  return *slot;
}

#if DFTRACER_BENCH_HAVE_TBB
tbb::task_arena& tbb_arena(int threads) {
  std::lock_guard lock(g_pools_mu);
  auto& slot = g_arenas[threads];
  if (!slot) {
    slot = std::make_unique<tbb::task_arena>(threads);  // one slot reserved for the caller
    slot->initialize();
  }
  return *slot;
}

tbb::task_arena& tbb_worker_arena(int threads) {
  std::lock_guard lock(g_pools_mu);
  auto& slot = g_worker_arenas[threads];
  if (!slot) {
    slot = std::make_unique<tbb::task_arena>(threads, /*reserved_for_masters=*/0);
    slot->initialize();
  }
  return *slot;
}
#endif

void fail(benchmark::State& st, const std::string& why) {
  g_failed.store(true);
  st.SkipWithError(why.c_str());
}

bool any_failure() { return g_failed.load(); }

void release_pools() {
  std::lock_guard lock(g_pools_mu);
  g_runtimes.clear();  // joins our workers
#if DFTRACER_BENCH_HAVE_TBB
  g_arenas.clear();
  g_worker_arenas.clear();
#endif
}

benchmark::internal::Benchmark* add(const std::string& case_name, const std::string& impl, int threads,
                                    std::function<void(benchmark::State&)> fn) {
  std::string name = case_name + "/" + impl + "/threads:" + std::to_string(threads);
  return benchmark::RegisterBenchmark(name.c_str(), [fn = std::move(fn)](benchmark::State& st) { fn(st); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace dft_bench
