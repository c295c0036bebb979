// Fork-join fib, the steal-heavy workload several test files use, and its
// sequential reference.
#pragma once

#include <cstdint>
#include <utility>

#include "dftracer/utils/core/fork_join.hpp"
#include "dftracer/utils/core/task.hpp"

namespace dftracer::utils::test {

inline Task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  JoinHandle<std::uint64_t> a = co_await spawn(fib(n - 1));
  std::uint64_t b = co_await fib(n - 2);
  co_return co_await std::move(a) + b;
}

inline std::uint64_t fib_seq(int n) { return n < 2 ? static_cast<std::uint64_t>(n) : fib_seq(n - 1) + fib_seq(n - 2); }

}  // namespace dftracer::utils::test
