// WorkItem: what a queue holds. One word, tagged by its low bit:
//  - a coroutine to resume (child coroutines, continuations), or
//  - a submitted task (TaskState*), which must be *claimed* before it runs,
//    because a thread blocked on its handle may run it inline instead.
// Keeping both in one word keeps the deques lock-free and the fork-join path
// free of any registry work (DESIGN.md: two kinds of work).
#pragma once

#include <cassert>
#include <coroutine>
#include <cstdint>

namespace dftracer::utils {

class TaskState;

class WorkItem {
 public:
  constexpr WorkItem() noexcept = default;

  static WorkItem coroutine(std::coroutine_handle<> h) noexcept {
    auto bits = reinterpret_cast<std::uintptr_t>(h.address());
    assert((bits & kTaskTag) == 0 && "coroutine frames are at least 2-byte aligned");
    return WorkItem(bits);
  }
  // The queue entry owns one reference on the state (see TaskState::add_ref).
  static WorkItem task(TaskState* state) noexcept {
    auto bits = reinterpret_cast<std::uintptr_t>(state);
    assert((bits & kTaskTag) == 0);
    return WorkItem(bits | kTaskTag);
  }
  static constexpr WorkItem from_bits(std::uintptr_t bits) noexcept { return WorkItem(bits); }

  constexpr explicit operator bool() const noexcept { return bits_ != 0; }
  constexpr bool is_task() const noexcept { return (bits_ & kTaskTag) != 0; }
  std::coroutine_handle<> as_coroutine() const noexcept {
    return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(bits_));
  }
  TaskState* as_task() const noexcept {
    return reinterpret_cast<TaskState*>(bits_ & ~kTaskTag);
  }
  constexpr std::uintptr_t bits() const noexcept { return bits_; }

 private:
  static constexpr std::uintptr_t kTaskTag = 1;
  constexpr explicit WorkItem(std::uintptr_t bits) noexcept : bits_(bits) {}
  std::uintptr_t bits_ = 0;
};

}  // namespace dftracer::utils
