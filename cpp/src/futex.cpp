// Futex wrappers (see futex.hpp for why we do not use std::atomic::wait).
#include "dftracer/utils/core/detail/futex.hpp"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>
#endif

#include <thread>

namespace dftracer::utils {

#if defined(__linux__)
namespace {
// The kernel reads the word as a plain int; std::atomic<uint32_t> is
// layout-compatible with uint32_t on every platform we build for.
long futex_call(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr, 0);
}
}  // namespace

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  futex_call(word, FUTEX_WAIT_PRIVATE, expected, nullptr);
}

bool futex_wait_for(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return word.load(std::memory_order_acquire) != expected;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  long rc = futex_call(word, FUTEX_WAIT_PRIVATE, expected, &ts);
  return !(rc == -1 && errno == ETIMEDOUT);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept { futex_call(word, FUTEX_WAKE_PRIVATE, 1, nullptr); }

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  futex_call(word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
}
#else
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  word.wait(expected, std::memory_order_acquire);
}

bool futex_wait_for(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::chrono::nanoseconds timeout) noexcept {
  // std::atomic has no timed wait: poll in short sleeps. Only used off Linux.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (word.load(std::memory_order_acquire) == expected) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return true;
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept { word.notify_one(); }
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept { word.notify_all(); }
#endif

}  // namespace dftracer::utils
