// ZeroWaitCounter: a count of live things (active tasks, running bodies)
// that other threads wait to see reach zero, and that such a waiter may then
// destroy (the Runtime, at shutdown).
//
// The thread that takes the count to zero still has to wake the waiters,
// after the count already reads zero. It is counted as a "waker" (the high
// bits of the same word) from the decrement until its last access, and
// wait_quiet() waits until no waker is left: without that, a waiter that
// returned at zero could free the counter under the waker's feet (issue 10,
// item 12: a foreign completer still writing to a freed runtime).
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <thread>

#include "dftracer/utils/core/detail/cpu_relax.hpp"
#include "dftracer/utils/core/detail/futex.hpp"

namespace dftracer::utils {

class ZeroWaitCounter {
 public:
  void add(std::uint64_t n = 1) noexcept { word_.fetch_add(n, std::memory_order_seq_cst); }

  // One fewer. The last one wakes the waiters; from its decrement to its
  // last access it counts as a waker (see the top of this file).
  void remove_one() noexcept {
    std::uint64_t v = word_.load(std::memory_order_relaxed);
    bool last;
    for (;;) {
      assert((v & kCountMask) > 0 && "ZeroWaitCounter::remove_one below zero");
      last = (v & kCountMask) == 1;
      std::uint64_t next = last ? v - 1 + kWakerOne : v - 1;
      if (word_.compare_exchange_weak(v, next, std::memory_order_seq_cst, std::memory_order_relaxed)) break;
    }
    if (!last) return;
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    // Skip the syscall when nobody waits (the common case between batches).
    if (waiters_.load(std::memory_order_seq_cst) != 0) futex_wake_all(epoch_);
    // Release: our accesses above happen before a waiter that sees us gone.
    word_.fetch_sub(kWakerOne, std::memory_order_release);
  }

  std::uint64_t count() const noexcept { return word_.load(std::memory_order_seq_cst) & kCountMask; }

  // Blocks until the count is zero, or `timeout` passes (false then).
  bool wait_zero_for(std::chrono::nanoseconds timeout) noexcept {
    if (count() == 0) return true;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    bool zero = false;
    for (;;) {
      std::uint32_t epoch = epoch_.load(std::memory_order_seq_cst);
      if (count() == 0) {
        zero = true;
        break;
      }
      auto left = deadline - std::chrono::steady_clock::now();
      if (left.count() <= 0) break;
      futex_wait_for(epoch_, epoch, left);
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
    return zero;
  }

  void wait_zero() noexcept {
    while (!wait_zero_for(std::chrono::hours(24))) {}
  }

  // Once nothing can add any more: waits until the count is zero and the
  // last waker has left, after which no thread touches the counter on
  // account of a remove_one. The waker's window is a few instructions.
  void wait_quiet() noexcept {
    for (int spins = 0;; ++spins) {
      std::uint64_t v = word_.load(std::memory_order_acquire);
      if (v == 0) return;
      if ((v & kCountMask) != 0) {
        wait_zero();
      } else if (spins < 1000) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // the waker was preempted
      }
    }
  }

 private:
  static constexpr std::uint64_t kWakerOne = 1ull << 48;
  static constexpr std::uint64_t kCountMask = kWakerOne - 1;

  std::atomic<std::uint64_t> word_{0};   // low 48 bits: count; high 16: wakers
  std::atomic<std::uint32_t> epoch_{0};  // the futex word: bumped at each zero
  std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace dftracer::utils
