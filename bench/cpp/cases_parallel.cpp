// Range algorithms: parallel_for and parallel_reduce against oneTBB's, on
// the same work.
//
// Each element costs a few ns (a 64-bit mix function, kMixRounds rounds),
// so the figures show what the splitting and stealing cost per element at a
// realistic grain. Here a "task" in the summary is one element:
// ns*core/task = elapsed ns x threads / elements.
//
// Both sides split the same way when the grain is given: ours halves
// recursively down to pieces of at most `grain` (parallel_for.hpp); oneTBB
// gets blocked_range(0, n, grain) with simple_partitioner, which also
// splits in halves until a piece is no larger than the grain. The
// "grain:auto" cases compare our automatic grain (n / (8 x workers)) with
// oneTBB's default auto_partitioner. Both use the range (begin, end) body,
// as a TBB user writes it. Results are integers, checked exactly.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "dftracer/utils/core/parallel_for.hpp"
#include "dftracer/utils/core/parallel_reduce.hpp"

#if DFTRACER_BENCH_HAVE_TBB
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/partitioner.h>
#endif

namespace dft_bench {

namespace {

constexpr int kMixRounds = 4;

// splitmix64's finaliser, a few times over: cheap, not vectorisable away.
inline std::uint64_t mix(std::uint64_t x) noexcept {
  for (int r = 0; r < kMixRounds; ++r) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
  }
  return x;
}

std::uint64_t serial_sum(std::uint64_t n) {
  std::uint64_t s = 0;
  for (std::uint64_t i = 0; i < n; ++i) s += mix(i);
  return s;
}

// Order-independent checksum of what parallel_for wrote.
std::uint64_t checksum(const std::vector<std::uint64_t>& v) {
  std::uint64_t s = 0;
  for (std::uint64_t x : v) s += x;
  return s;
}

std::string case_name(const char* algo, std::uint64_t n, std::size_t grain) {
  return std::string(algo) + "/n:" + std::to_string(n) + ",grain:" + (grain ? std::to_string(grain) : "auto");
}

void register_for(std::uint64_t n, std::size_t grain) {
  std::string name = case_name("parallel_for", n, grain);
  auto expected = std::make_shared<std::uint64_t>(serial_sum(n));
  auto out = std::make_shared<std::vector<std::uint64_t>>(n);
  add(name, "serial", 1, [=](benchmark::State& st) {
    measure(st, 1, [&] {
      std::uint64_t* o = out->data();
      for (std::uint64_t i = 0; i < n; ++i) o[i] = mix(i);
      benchmark::ClobberMemory();
      if (checksum(*out) != *expected) fail(st, "serial: wrong result");
      return n;
    });
  });
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        std::uint64_t* o = out->data();
        dft::sync_wait(rt, dft::parallel_for(std::uint64_t{0}, n, grain, [o](std::uint64_t b, std::uint64_t e) {
                         for (std::uint64_t i = b; i < e; ++i) o[i] = mix(i);
                       }));
        if (checksum(*out) != *expected) fail(st, "ours: wrong result");
        return n;
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_arena(t);
      measure(st, t, [&] {
        std::uint64_t* o = out->data();
        auto body = [o](const tbb::blocked_range<std::uint64_t>& r) {
          for (std::uint64_t i = r.begin(); i < r.end(); ++i) o[i] = mix(i);
        };
        arena.execute([&] {
          if (grain) {
            tbb::parallel_for(tbb::blocked_range<std::uint64_t>(0, n, grain), body, tbb::simple_partitioner());
          } else {
            tbb::parallel_for(tbb::blocked_range<std::uint64_t>(0, n), body);
          }
        });
        if (checksum(*out) != *expected) fail(st, "tbb: wrong result");
        return n;
      });
    });
#endif
  }
}

void register_reduce(std::uint64_t n, std::size_t grain) {
  std::string name = case_name("parallel_reduce", n, grain);
  auto expected = std::make_shared<std::uint64_t>(serial_sum(n));
  add(name, "serial", 1, [=](benchmark::State& st) {
    measure(st, 1, [&] {
      std::uint64_t s = serial_sum(n);
      benchmark::DoNotOptimize(s);
      if (s != *expected) fail(st, "serial: wrong result");
      return n;
    });
  });
  auto piece = [](std::uint64_t b, std::uint64_t e) {
    std::uint64_t s = 0;
    for (std::uint64_t i = b; i < e; ++i) s += mix(i);
    return s;
  };
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        std::uint64_t s = dft::sync_wait(
            rt, dft::parallel_reduce(std::uint64_t{0}, n, grain, std::uint64_t{0}, piece, std::plus<std::uint64_t>()));
        if (s != *expected) fail(st, "ours: wrong result");
        return n;
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_arena(t);
      measure(st, t, [&] {
        auto body = [piece](const tbb::blocked_range<std::uint64_t>& r, std::uint64_t acc) {
          return acc + piece(r.begin(), r.end());
        };
        std::uint64_t s = 0;
        arena.execute([&] {
          if (grain) {
            s = tbb::parallel_reduce(tbb::blocked_range<std::uint64_t>(0, n, grain), std::uint64_t{0}, body,
                                     std::plus<std::uint64_t>(), tbb::simple_partitioner());
          } else {
            s = tbb::parallel_reduce(tbb::blocked_range<std::uint64_t>(0, n), std::uint64_t{0}, body,
                                     std::plus<std::uint64_t>());
          }
        });
        if (s != *expected) fail(st, "tbb: wrong result");
        return n;
      });
    });
#endif
  }
}

}  // namespace

void register_parallel() {
  bool quick = options().quick;
  std::uint64_t n = quick ? (1u << 14) : (1u << 22);
  for (std::size_t grain : {std::size_t{256}, std::size_t{4096}, std::size_t{0}}) {
    register_for(n, grain);
    register_reduce(n, grain);
  }
  // Fine grain: the splitting cost itself, one element per leaf.
  register_reduce(quick ? (1u << 12) : (1u << 18), 1);
}

}  // namespace dft_bench
