// WorkItem: what a queue holds. One word, tagged by its low bit:
//  - a coroutine to resume (child coroutines, continuations), or
//  - a queue entry (a submitted task), which decides itself what running it
//    means: a task must be *claimed* first, because a thread blocked on its
//    handle may have run it inline already.
// Keeping both in one word keeps the deques lock-free and the fork-join path
// free of any registry work (docs/design.md: two kinds of work). The
// executor knows queue entries, not tasks (docs/design.md, "Layers").
#pragma once

#include <cassert>
#include <coroutine>
#include <cstdint>

namespace dftracer::utils {

// What the executor needs of a submitted task in its queues. Each entry in a
// queue owns one reference on the object behind it.
class QueueEntry {
 public:
  // Runs the entry (when it is still to run) and drops the queue's reference.
  virtual void run_from_queue() = 0;
  // The entry will never run (its executor is destroyed): drop the reference.
  virtual void discard_from_queue() noexcept = 0;

 protected:
  ~QueueEntry() = default;
};

class WorkItem {
 public:
  constexpr WorkItem() noexcept = default;

  static WorkItem coroutine(std::coroutine_handle<> h) noexcept {
    auto bits = reinterpret_cast<std::uintptr_t>(h.address());
    assert((bits & kTaskTag) == 0 && "coroutine frames are at least 2-byte aligned");
    return WorkItem(bits);
  }
  static WorkItem task(QueueEntry* entry) noexcept {
    auto bits = reinterpret_cast<std::uintptr_t>(entry);
    assert((bits & kTaskTag) == 0);
    return WorkItem(bits | kTaskTag);
  }
  static constexpr WorkItem from_bits(std::uintptr_t bits) noexcept { return WorkItem(bits); }

  constexpr explicit operator bool() const noexcept { return bits_ != 0; }
  constexpr bool is_task() const noexcept { return (bits_ & kTaskTag) != 0; }
  std::coroutine_handle<> as_coroutine() const noexcept {
    return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(bits_));
  }
  QueueEntry* as_task() const noexcept { return reinterpret_cast<QueueEntry*>(bits_ & ~kTaskTag); }
  constexpr std::uintptr_t bits() const noexcept { return bits_; }

 private:
  static constexpr std::uintptr_t kTaskTag = 1;
  constexpr explicit WorkItem(std::uintptr_t bits) noexcept : bits_(bits) {}
  std::uintptr_t bits_ = 0;
};

}  // namespace dftracer::utils
