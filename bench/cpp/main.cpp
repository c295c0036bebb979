// dftracer_bench: our executor and oneTBB side by side (see bench_support.hpp).
//
//   dftracer_bench [--quick] [--threads=1,2,4] [google-benchmark flags]
//
//   --quick            tiny sizes (what `ctest -L bench` runs); also env
//                      DFTRACER_BENCH_QUICK=1
//   --threads=LIST     extra thread counts; also env DFTRACER_BENCH_THREADS.
//                      1 and 2 always run.
//
// After the runs it prints a summary: per case and thread count, our
// ns*core/task, oneTBB's, and the ratio, then the docs/design.md goals and the
// watchdog's cost. With
// --benchmark_format=json the summary goes to stderr so stdout stays JSON
// (compare.py reads that JSON and prints the same table).
// Exit status is non-zero only when a case computed a wrong result: time is
// never asserted.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_support.hpp"

#if DFTRACER_BENCH_HAVE_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/version.h>
#endif

namespace dft_bench {
void release_pools();
}

namespace {

using dft_bench::Options;

bool parse_thread_list(const char* text, std::vector<int>& out) {
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (*end != '\0' || v <= 0 || v > 1024) return false;
    out.push_back(static_cast<int>(v));
  }
  return true;
}

// Takes our own flags out of argv (google-benchmark rejects unknown ones).
bool parse_options(int& argc, char** argv, Options& o) {
  o.threads = {1, 2};
  if (const char* env = std::getenv("DFTRACER_BENCH_THREADS")) {
    if (!parse_thread_list(env, o.threads)) {
      std::fprintf(stderr, "bad DFTRACER_BENCH_THREADS: %s\n", env);
      return false;
    }
  }
  if (const char* env = std::getenv("DFTRACER_BENCH_QUICK"))
    o.quick = std::strcmp(env, "") != 0 && std::strcmp(env, "0") != 0;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      o.quick = true;
    } else if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      if (!parse_thread_list(argv[i] + 10, o.threads)) {
        std::fprintf(stderr, "bad %s\n", argv[i]);
        return false;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  std::sort(o.threads.begin(), o.threads.end());
  o.threads.erase(std::unique(o.threads.begin(), o.threads.end()), o.threads.end());
  return true;
}

std::string flag_value(int argc, char** argv, const char* flag) {
  std::string prefix = std::string(flag) + "=";
  std::string value;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) value = argv[i] + prefix.size();
  }
  return value;
}

// What the summary needs from one benchmark.
struct Figures {
  std::map<std::string, double> counters;
};

// A reporter that also keeps each run's counters for the summary.
template <class Base>
class Collecting : public Base {
 public:
  using Base::Base;
  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred) continue;
      bool iteration = r.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration;
      // With --benchmark_repetitions the median stands for the benchmark.
      if (!iteration && r.aggregate_name != "median") continue;
      std::string name = r.run_name.str();
      if (iteration && figures.count(name) && r.repetitions > 1) continue;
      Figures& f = figures[name];
      for (const auto& [key, counter] : r.counters) f.counters[key] = counter.value;
    }
    Base::ReportRuns(runs);
  }
  std::map<std::string, Figures> figures;
};

struct Key {
  std::string case_name;
  std::string impl;
  int threads;
};

bool split_name(const std::string& name, Key& k) {
  auto t = name.rfind("/threads:");
  if (t == std::string::npos) return false;
  auto slash = name.rfind('/', t - 1);
  if (slash == std::string::npos) return false;
  k.case_name = name.substr(0, slash);
  k.impl = name.substr(slash + 1, t - slash - 1);
  k.threads = std::atoi(name.c_str() + t + 9);
  return true;
}

double get(const Figures& f, const char* key) {
  auto it = f.counters.find(key);
  return it == f.counters.end() ? -1 : it->second;
}

void print_summary(std::FILE* out, const std::map<std::string, Figures>& figures) {
  // (case, threads) -> impl -> figures, in registration-independent order.
  std::map<std::pair<std::string, int>, std::map<std::string, const Figures*>> rows;
  for (const auto& [name, f] : figures) {
    Key k;
    if (split_name(name, k)) rows[{k.case_name, k.threads}][k.impl] = &f;
  }
  std::fprintf(out,
               "\n== Summary: ns*core/task = elapsed ns x threads / tasks; cpu ns/task = process CPU time / tasks;\n"
               "   ratio = ours / oneTBB in ns*core/task (< 1: ours faster)\n");
  std::fprintf(out, "%-34s %-14s %4s %10s %14s %12s %14s %12s %7s\n", "case", "impl", "thr", "ns/task", "ns*core/task",
               "cpu ns/task", "tbb ns*core/t", "tbb cpu ns/t", "ratio");
  bool any_latency = false;
  for (const auto& [key, impls] : rows) {
    if (key.first.rfind("wake_latency", 0) == 0) {
      any_latency = true;
      continue;
    }
    const Figures* tbb = impls.count("tbb") ? impls.at("tbb") : nullptr;
    double tbb_core = tbb ? get(*tbb, "ns_core_per_task") : -1;
    double tbb_cpu = tbb ? get(*tbb, "cpu_ns_per_task") : -1;
    for (const auto& [impl, f] : impls) {
      if (impl == "tbb") continue;
      double per = get(*f, "ns_per_task"), core = get(*f, "ns_core_per_task"), cpu = get(*f, "cpu_ns_per_task");
      if (impl != "serial" && tbb_core > 0) {
        std::fprintf(out, "%-34s %-14s %4d %10.1f %14.1f %12.1f %14.1f %12.1f %7.2f\n", key.first.c_str(), impl.c_str(),
                     key.second, per, core, cpu, tbb_core, tbb_cpu, core / tbb_core);
      } else {
        std::fprintf(out, "%-34s %-14s %4d %10.1f %14.1f %12.1f %14s %12s %7s\n", key.first.c_str(), impl.c_str(),
                     key.second, per, core, cpu, "-", "-", "-");
      }
    }
    if (tbb && !impls.count("ours") && !impls.count("serial")) {
      std::fprintf(out, "%-34s %-14s %4d %10.1f %14s %12s %14.1f %12.1f %7s\n", key.first.c_str(), "tbb only",
                   key.second, get(*tbb, "ns_per_task"), "-", "-", tbb_core, tbb_cpu, "-");
    }
  }
  if (any_latency) {
    std::fprintf(out, "\n%-34s %-6s %4s %10s %10s %10s %12s %12s\n", "case", "impl", "thr", "p50 us", "p99 us",
                 "max us", "submit us", "idle cpu %");
    for (const auto& [key, impls] : rows) {
      if (key.first.rfind("wake_latency", 0) != 0) continue;
      for (const auto& [impl, f] : impls) {
        std::fprintf(out, "%-34s %-6s %4d %10.1f %10.1f %10.1f %12.1f %12.2f\n", key.first.c_str(), impl.c_str(),
                     key.second, get(*f, "p50_us"), get(*f, "p99_us"), get(*f, "max_us"), get(*f, "submit_p50_us"),
                     get(*f, "idle_cpu_pct"));
      }
    }
  }

  // docs/design.md goals, where this run has the figures.
  std::fprintf(out, "\n== docs/design.md goals\n");
  for (const auto& [key, impls] : rows) {
    auto ours = impls.find("ours");
    if (ours == impls.end()) continue;
    double core = get(*ours->second, "ns_core_per_task");
    if (key.first.rfind("fib/", 0) == 0) {
      auto tbb = impls.find("tbb");
      double ratio = tbb != impls.end() ? core / get(*tbb->second, "ns_core_per_task") : -1;
      std::fprintf(out, "%-12s %2d thr: %6.1f ns*core/task (goal <= 20) %s; ratio to oneTBB %.2f (goal <= 0.5) %s\n",
                   key.first.c_str(), key.second, core, core <= 20 ? "met" : "MISSED", ratio,
                   ratio < 0 ? "n/a" : (ratio <= 0.5 ? "met" : "MISSED"));
    } else if (key.first.rfind("spawn_external/", 0) == 0 && key.second == 2) {
      double per = get(*ours->second, "ns_per_task");
      std::fprintf(out, "%-12s %2d thr: %6.1f ns/task via Runtime::submit (goal <= 100) %s\n", "spawn_external",
                   key.second, per, per <= 100 ? "met" : "MISSED");
    }
  }
  // watchdog_cost: each setting against the run without a watchdog.
  bool wd_header = false;
  for (const auto& [key, impls] : rows) {
    if (key.first.rfind("watchdog_cost/", 0) != 0) continue;
    auto off = impls.find("ours_wd_off");
    if (off == impls.end()) continue;
    if (!wd_header) {
      std::fprintf(out, "\n== watchdog_cost: ns*core/task by sampling interval, change against no watchdog\n");
      wd_header = true;
    }
    double base = get(*off->second, "ns_core_per_task");
    std::fprintf(out, "%-40s %2d thr: watchdog off %.1f ns*core/task", key.first.c_str(), key.second, base);
    for (const auto& [impl, f] : impls) {
      if (impl == "ours_wd_off") continue;
      double v = get(*f, "ns_core_per_task");
      std::fprintf(out, "; %s %.1f (%+.1f%%)", impl.c_str() + 5, v, base > 0 ? 100.0 * (v - base) / base : 0.0);
    }
    std::fprintf(out, "\n");
  }
  std::fflush(out);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) return 2;
  dft_bench::set_options(o);

#if DFTRACER_BENCH_HAVE_TBB
  // Room for the largest arena plus the thread that submits to it.
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<std::size_t>(o.threads.back()) + 1);
#endif

  dft_bench::register_fork_join();
  dft_bench::register_spawn();
  dft_bench::register_latency();
  dft_bench::register_watchdog();
  dft_bench::register_parallel();

  // Read before Initialize, which consumes the benchmark flags.
  std::string format = flag_value(argc, argv, "--benchmark_format");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

#if DFTRACER_BENCH_HAVE_TBB
  benchmark::AddCustomContext("oneTBB", TBB_VERSION_STRING);
#else
  benchmark::AddCustomContext("oneTBB", "not found at build time: ours only");
#endif
  benchmark::AddCustomContext("mode", o.quick ? "quick" : "full");

  std::FILE* summary_out = stdout;
  std::map<std::string, Figures> figures;
  if (format == "json") {
    Collecting<benchmark::JSONReporter> reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    figures = std::move(reporter.figures);
    summary_out = stderr;
  } else if (format.empty() || format == "console") {
    auto opts =
        isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults : benchmark::ConsoleReporter::OO_Tabular;
    Collecting<benchmark::ConsoleReporter> reporter(opts);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    figures = std::move(reporter.figures);
  } else {
    benchmark::RunSpecifiedBenchmarks();  // csv: no summary
  }
  if (!figures.empty()) print_summary(summary_out, figures);
  benchmark::Shutdown();
  dft_bench::release_pools();
  if (dft_bench::any_failure()) {
    std::fprintf(stderr, "dftracer_bench: a case computed a wrong result (see the errors above)\n");
    return 1;
  }
  return 0;
}
