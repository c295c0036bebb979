// watchdog_cost: what the watchdog thread costs the work it watches.
//
// The same work on runtimes that differ only in the watchdog's sampling
// interval: off (interval 0: no thread), the engine default (100 ms) and an
// aggressive 1 ms. Two loads: fib (child coroutines, which the watchdog never
// sees one by one: only its sampling of the worker slots can cost anything)
// and spawn_external (submitted tasks, which publish themselves in their
// worker's slot for the watchdog on every start and end).
#include <chrono>
#include <cstdint>
#include <string>

#include "bench_support.hpp"

namespace dft_bench {

namespace {

using std::chrono::milliseconds;

struct Setting {
  const char* impl;
  milliseconds interval;
};
constexpr Setting kSettings[] = {
    {"ours_wd_off", milliseconds(0)},
    {"ours_wd_100ms", milliseconds(100)},
    {"ours_wd_1ms", milliseconds(1)},
};

// Registers `name` once per thread count and watchdog setting; `work(rt,
// st)` runs one iteration on a runtime with that setting and returns the
// number of tasks it ran.
template <class Work>
void register_under_watchdog(const std::string& name, Work work) {
  for (int t : options().threads) {
    for (const Setting& s : kSettings) {
      milliseconds interval = s.interval;
      add(name, s.impl, t, [=](benchmark::State& st) {
        dft::Runtime& rt = ours_runtime(t, interval);
        measure(st, t, [&] { return work(rt, st); });
      });
    }
  }
}

void register_fib_under_watchdog(int n) {
  std::uint64_t calls = fib_calls(n), expect = fib_result(n);
  register_under_watchdog("watchdog_cost/fib/n:" + std::to_string(n), [=](dft::Runtime& rt, benchmark::State& st) {
    if (dft::sync_wait(rt, fib_task(n)) != expect) fail(st, "wrong result");
    return calls;
  });
}

void register_submit_under_watchdog(std::uint32_t n) {
  register_under_watchdog("watchdog_cost/spawn_external/n:" + std::to_string(n),
                          [=](dft::Runtime& rt, benchmark::State&) {
                            for (std::uint32_t i = 0; i < n; ++i) (void)rt.submit([] {});
                            rt.wait_all();
                            return std::uint64_t{n};
                          });
}

}  // namespace

void register_watchdog() {
  bool quick = options().quick;
  register_fib_under_watchdog(quick ? 20 : 32);
  register_submit_under_watchdog(quick ? 20000 : 1000000);
}

}  // namespace dft_bench
