// Coordinates idling workers: who is searching for work, who is parked, and
// whom to wake when work appears. The shape follows Tokio's multi-thread
// scheduler (a searching count that throttles wake-ups), with one rule
// Tokio does not need: tasks here block where the pool cannot see them (a
// Python task waiting on a queue.Queue), so a worker that is running a task
// may never come back to look for work. Hence:
//
//  - A producer publishes its item, then wakes one parked worker unless
//    somebody is searching (a searcher will find the item, or re-check
//    before it stops searching) or nobody is parked (every worker is awake
//    and will re-check before it parks).
//  - Every worker re-checks every queue after it has registered as parked,
//    and every retiring temporary worker after it has left the count, never only the
//    last searcher. Registration and producer's check are seq_cst on
//    `state_`, publication and re-check are seq_cst on the queues: in the
//    single order of those operations, either the producer sees the
//    parked worker and wakes one, or the worker's re-check sees the item.
//  - The last searcher to stop searching because it found work wakes one
//    more if work is still queued (parallelism ramps up one worker at a
//    time; a lone task costs one wake, not two).
//  - At most about half the workers search at once, so a burst of
//    idleness does not become a storm of failed steals.
//
// The invariant, "no pushed item is left while every worker is parked",
// is model-checked by tests/model/idle_protocol.pml (docs/design.md, "The
// idle protocol").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "dftracer/utils/core/detail/futex.hpp"

namespace dftracer::utils {

class IdleCoordinator {
 public:
  explicit IdleCoordinator(std::uint32_t max_workers);

  // A thread starts (awake, not searching) or leaves for good (from awake).
  void add_worker() noexcept;
  void remove_worker(bool searching) noexcept;

  // Becomes a searcher unless half the workers already search.
  bool try_begin_search() noexcept;
  // Becomes a searcher unconditionally (a worker whose re-check found work).
  void begin_search() noexcept;
  // Stops searching; true when this was the last searcher (caller then wakes
  // one more if work is still queued).
  bool end_search() noexcept;

  // Registers `slot` as parked (stops searching too). The caller must then
  // re-check every queue: on work, cancel_park(); else wait_parked(). False
  // without registering when stopping.
  bool prepare_park(std::uint32_t slot, bool searching);
  // Takes `slot` off the parked list if a notifier has not already done so.
  // Either way the caller continues awake and searching.
  void cancel_park(std::uint32_t slot) noexcept;
  // Sleeps until notified. A notified worker wakes as a searcher.
  void wait_parked(std::uint32_t slot) noexcept;
  // As wait_parked, for at most `timeout` (temporary workers, which wake to see
  // whether they are still needed). False on timeout: the caller is then off
  // the parked list, awake and not searching.
  bool wait_parked_for(std::uint32_t slot, std::chrono::nanoseconds timeout) noexcept;

  // Call after publishing work, from any thread: wakes one parked worker
  // when nobody is searching. The publication must be seq_cst (or followed
  // by a seq_cst fence) for the reasoning at the top of this file to hold.
  void notify_one();
  // Wakes everybody (shutdown). Later prepare_park calls refuse to park.
  void notify_all_and_stop();

  std::uint32_t num_searching() const noexcept { return unpack(state_.load()).searching; }
  std::uint32_t num_parked() const noexcept { return unpack(state_.load()).parked; }
  std::uint32_t num_workers() const noexcept { return unpack(state_.load()).workers; }

 private:
  // One 64-bit word so a reader sees the three counts consistently.
  struct Counts {
    std::uint32_t searching;  // workers stealing right now
    std::uint32_t parked;     // workers registered as parked
    std::uint32_t workers;    // live threads
  };
  static constexpr std::uint64_t kSearchingOne = 1;
  static constexpr std::uint64_t kParkedOne = 1ull << 21;
  static constexpr std::uint64_t kWorkersOne = 1ull << 42;
  static constexpr std::uint64_t kField = (1ull << 21) - 1;
  static Counts unpack(std::uint64_t s) noexcept {
    return {static_cast<std::uint32_t>(s & kField), static_cast<std::uint32_t>((s >> 21) & kField),
            static_cast<std::uint32_t>((s >> 42) & kField)};
  }
  static bool should_wake(Counts c) noexcept { return c.searching == 0 && c.parked > 0; }
  // mu_ held: removes `slot` from parked_ if listed; true when it was.
  bool unlist_locked(std::uint32_t slot) noexcept;

  struct alignas(64) Sleeper {
    // 1 while parked; set to 0 under mu_ by whoever unlists the slot.
    std::atomic<std::uint32_t> word{0};
  };

  std::atomic<std::uint64_t> state_{0};
  std::unique_ptr<Sleeper[]> sleepers_by_slot_;
  std::mutex mu_;                      // guards parked_ and stopping_
  std::vector<std::uint32_t> parked_;  // slots currently parked, LIFO
  bool stopping_ = false;
};

}  // namespace dftracer::utils
