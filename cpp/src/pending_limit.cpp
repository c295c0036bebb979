// The max_pending bound (see pending_limit.hpp).
//
// Lost-wake argument: a sleeper increments sleepers_, reads the epoch, then
// reads the count; a releaser decrements the count, then reads sleepers_.
// All four are seq_cst, so either the sleeper sees the freed slot, or the
// releaser sees the sleeper and bumps the epoch after the sleeper read it,
// and the futex wait returns at once (or is woken).
#include "dftracer/utils/core/detail/pending_limit.hpp"

#include "dftracer/utils/core/detail/futex.hpp"

namespace dftracer::utils {

bool PendingLimit::try_acquire() noexcept {
  if (!enabled()) return true;
  std::uint64_t c = count_.load(std::memory_order_seq_cst);
  while (c < max_) {
    if (count_.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst, std::memory_order_seq_cst)) return true;
  }
  return false;
}

void PendingLimit::force_acquire() noexcept {
  if (enabled()) count_.fetch_add(1, std::memory_order_seq_cst);
}

void PendingLimit::release() noexcept {
  if (!enabled()) return;
  std::uint64_t before = count_.fetch_sub(1, std::memory_order_seq_cst);
  // Only the step from full to not full wakes: below it nobody sleeps for
  // lack of a slot (a sleeper re-checks after every wake), above it there
  // is still no slot to give.
  if (before == max_ && sleepers_.load(std::memory_order_seq_cst) != 0) {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(epoch_);
  }
}

bool PendingLimit::wait_round(std::chrono::nanoseconds timeout, bool timed) noexcept {
  std::uint32_t epoch = epoch_.load(std::memory_order_seq_cst);
  if (try_acquire()) return true;
  if (timed) {
    futex_wait_for(epoch_, epoch, timeout);
  } else {
    futex_wait(epoch_, epoch);
  }
  return false;
}

void PendingLimit::acquire() noexcept {
  if (try_acquire()) return;
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  while (!wait_round(std::chrono::nanoseconds(0), false)) {}
  // relaxed: a stale non-zero only costs a releaser one spare wake.
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

bool PendingLimit::acquire_for(std::chrono::nanoseconds timeout) noexcept {
  if (try_acquire()) return true;
  if (timeout.count() <= 0) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  bool got = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      got = try_acquire();  // one last look: a slot freed as time ran out
      break;
    }
    if (wait_round(left, true)) {
      got = true;
      break;
    }
  }
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return got;
}

}  // namespace dftracer::utils
