// Coordinates idling workers: who is searching for work, who is parked, and
// whom to wake when work appears. Modelled on Tokio's multi-thread scheduler.
//
// Rules:
//  - At most about half the workers search (steal) at once, so a burst of
//    idleness does not turn into a storm of failed steals.
//  - A producer wakes a parked worker only when nobody is searching: a
//    searcher will find the work, and the last searcher to give up re-checks
//    every queue before it parks (no lost wake-up, no timer).
//  - A searcher that finds work and was the last searcher wakes one more
//    when more work is still queued, so parallelism ramps up one worker at
//    a time and a lone task costs one wake, not two.
//  - A worker blocked in a wait (TaskHandle::get on a worker) counts as not
//    unparked, so producers may wake someone else.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "dftracer/utils/core/futex.hpp"

namespace dftracer::utils {

class IdleCoordinator {
 public:
  explicit IdleCoordinator(std::uint32_t max_workers);

  // A thread starts (unparked, not searching) or retires (from unparked).
  void add_worker() noexcept;
  void remove_worker(bool searching) noexcept;

  // Becomes a searcher unless half the workers already search.
  bool try_begin_search() noexcept;
  // Stops searching; true when this was the last searcher (caller then wakes one more).
  bool end_search() noexcept;

  // Registers `slot` as parked. Returns true when the caller was the last
  // searcher: it must then re-check all queues and call notify_one() if any
  // holds work. Returns false without parking when `stopping` is set.
  bool prepare_park(std::uint32_t slot, bool searching, bool& last_searcher);
  // Sleeps until notified. A notified worker wakes as a searcher.
  void wait_parked(std::uint32_t slot) noexcept;
  // As wait_parked, for at most `timeout` (spare workers, which must wake to
  // see whether they are still needed). Returns false on timeout: the caller
  // is then off the parked list, unparked and not searching.
  bool wait_parked_for(std::uint32_t slot, std::chrono::nanoseconds timeout) noexcept;

  // Wakes one parked worker if nobody is searching. `relaxed` skips the
  // seq_cst fence: correct only when the caller is a running worker that will
  // itself get to the work it just pushed (a missed wake costs speed, not
  // liveness).
  void notify_one(bool relaxed = false);
  // Wakes everybody (shutdown). Later prepare_park calls refuse to park.
  void notify_all_and_stop();

  // A worker starts/stops blocking in a wait.
  void begin_blocking() noexcept;
  void end_blocking() noexcept;

  std::uint32_t num_searching() const noexcept { return unpack(state_.load()).searching; }
  std::uint32_t num_unparked() const noexcept { return unpack(state_.load()).unparked; }
  std::uint32_t num_workers() const noexcept { return unpack(state_.load()).workers; }

 private:
  // One 64-bit word so a reader sees the three counts consistently.
  struct Counts {
    std::uint32_t searching;  // workers stealing right now
    std::uint32_t unparked;   // workers neither parked nor blocked
    std::uint32_t workers;    // live threads
  };
  static constexpr std::uint64_t kSearchingOne = 1;
  static constexpr std::uint64_t kUnparkedOne = 1ull << 21;
  static constexpr std::uint64_t kWorkersOne = 1ull << 42;
  static constexpr std::uint64_t kField = (1ull << 21) - 1;
  static Counts unpack(std::uint64_t s) noexcept {
    return {static_cast<std::uint32_t>(s & kField),
            static_cast<std::uint32_t>((s >> 21) & kField),
            static_cast<std::uint32_t>((s >> 42) & kField)};
  }
  static bool should_wake(Counts c) noexcept { return c.searching == 0 && c.unparked < c.workers; }

  struct alignas(64) Sleeper {
    // 1 while parked; set to 0 by the waker before the futex wake.
    std::atomic<std::uint32_t> word{0};
  };

  std::atomic<std::uint64_t> state_{0};
  std::unique_ptr<Sleeper[]> sleepers_by_slot_;
  std::mutex mu_;                       // guards parked_ and stopping_
  std::vector<std::uint32_t> parked_;   // slots currently parked, LIFO
  bool stopping_ = false;
};

}  // namespace dftracer::utils
