// Helpers shared by the C++ tests: stress scaling, sanitizer detection,
// bounded waiting, a gate to hold tasks in place, and RSS measurement.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

// Sanitizer builds run at -O1 with bigger frames and 5-20x slower atomics:
// deep recursion and the biggest loops are scaled down there, never skipped.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define DFTRACER_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define DFTRACER_TEST_UNDER_SANITIZER 1
#endif
#endif
#ifndef DFTRACER_TEST_UNDER_SANITIZER
#define DFTRACER_TEST_UNDER_SANITIZER 0
#endif

namespace dftracer::utils::test {

inline constexpr bool kUnderSanitizer = DFTRACER_TEST_UNDER_SANITIZER != 0;

// DFTRACER_STRESS_SCALE (default 1.0) multiplies the size of the big loops, so
// CI and sanitizer runs can be short while a default run hammers at full size.
inline double stress_scale() {
  if (const char* env = std::getenv("DFTRACER_STRESS_SCALE")) {
    char* end = nullptr;
    double v = std::strtod(env, &end);
    if (end != env && v > 0) return v;
  }
  return 1.0;
}

// `full` scaled by DFTRACER_STRESS_SCALE, at least `min`.
inline std::size_t scaled(std::size_t full, std::size_t min = 1) {
  auto n = static_cast<std::size_t>(static_cast<double>(full) * stress_scale());
  return n < min ? min : n;
}

// Polls `pred` until it holds or `timeout` passes; returns pred().
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// Holds tasks at a known point: the body calls wait(), the test open()s.
// Bounded so a broken runtime fails the test instead of hanging ctest.
struct Gate {
  std::atomic<bool> opened{false};
  std::atomic<int> arrived{0};
  void open() { opened.store(true, std::memory_order_release); }
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    arrived.fetch_add(1, std::memory_order_acq_rel);
    return wait_until([&] { return opened.load(std::memory_order_acquire); }, timeout);
  }
};

// Resident set size of this process, from /proc/self/statm.
inline std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// CPU time this process has used (all threads).
inline std::chrono::nanoseconds process_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace dftracer::utils::test
