// Instruction counts per task, for callgrind (bench/cpp/instructions.sh):
// stable on a noisy machine where wall times are not. Each mode does its
// work `n` times in one runtime; the script runs two sizes and divides the
// difference, so start-up and teardown cancel out.
//
//   dftracer_instruction_probe external|internal|fib N [THREADS]
//     external  N empty tasks through Runtime::submit from outside, wait_all
//     internal  the same from inside one task (onto the worker's deque)
//     fib       fork-join fib(N) (children are not tracked)
//   THREADS: compute workers (default 1). With more than one, `perf stat -e
//   cycles` over the whole process counts what the cores spend per task,
//   cache-line transfers between them included.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../tests/cpp/fib.hpp"
#include "dftracer/utils/all.hpp"

using namespace dftracer::utils;

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s external|internal|fib N [THREADS]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const long n = std::strtol(argv[2], nullptr, 10);
  RuntimeOptions o;
  o.threads = argc == 4 ? static_cast<std::size_t>(std::strtol(argv[3], nullptr, 10)) : 1;
  o.io_threads = 1;
  Runtime rt(o);
  if (mode == "external") {
    for (long i = 0; i < n; ++i) (void)rt.submit([] {});
    rt.wait_all();
  } else if (mode == "internal") {
    (void)rt.submit([&rt, n] {
      for (long i = 0; i < n; ++i) (void)rt.submit([] {});
    });
    rt.wait_all();
  } else if (mode == "fib") {
    std::printf("%llu\n", static_cast<unsigned long long>(sync_wait(rt, test::fib(static_cast<int>(n)))));
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  return 0;
}
