// PendingLimit: the `max_pending` bound on submitted tasks (backpressure).
//
// Counts tasks from admission (submit) until they settle, and makes
// submitters wait while `max` are pending, so a producer that submits
// millions of tasks holds at most `max` of them in memory. A limit of 0
// turns it off: then nothing is counted and every call is a branch.
//
// Waiting is a futex on `epoch_`, never a timer: a release that takes the
// count from `max` to below it bumps the epoch and wakes every sleeper (a
// handful of submitting threads at most), which retry. Waking only on that
// transition, not on every release, lets a woken producer find several free
// slots at once instead of paying one futex round trip per task.
//
// Who may exceed the bound: force_acquire() admits regardless. The runtime
// uses it for submissions from its own workers, because the submitting task
// is itself pending: if every pending task were a producer blocked here,
// nothing would ever settle (see docs/large-jobs.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace dftracer::utils {

class PendingLimit {
 public:
  explicit PendingLimit(std::uint64_t max = 0) noexcept : max_(max) {}
  PendingLimit(const PendingLimit&) = delete;
  PendingLimit& operator=(const PendingLimit&) = delete;

  // 0: unbounded (nothing is counted).
  std::uint64_t max() const noexcept { return max_; }
  bool enabled() const noexcept { return max_ != 0; }
  // Tasks admitted and not yet released (0 when disabled).
  std::uint64_t pending() const noexcept { return count_.load(std::memory_order_relaxed); }

  // Takes a slot if fewer than max() are pending. Never blocks.
  bool try_acquire() noexcept;
  // Takes a slot whatever the count (the runtime's own workers).
  void force_acquire() noexcept;
  // Blocks until a slot is free, then takes it.
  void acquire() noexcept;
  // As acquire(), giving up after `timeout`; false when it passed first.
  bool acquire_for(std::chrono::nanoseconds timeout) noexcept;
  // The runtime's admission rule: workers of the runtime never wait (see
  // the top of this file), everyone else waits for a slot.
  void admit(bool from_own_worker) noexcept {
    if (!enabled()) return;
    if (from_own_worker) {
      force_acquire();
    } else if (!try_acquire()) {
      acquire();
    }
  }
  // Gives a slot back (a task settled, or its submission was refused).
  void release() noexcept;

 private:
  // One wait round: sleeps on the epoch unless a slot is visibly free.
  bool wait_round(std::chrono::nanoseconds timeout, bool timed) noexcept;

  const std::uint64_t max_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace dftracer::utils
