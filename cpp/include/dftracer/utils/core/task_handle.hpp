// TaskHandle<T>: what submit() returns. A reference to the task's shared
// state plus typed access to its result.
//
// get() blocks (see TaskState::wait for why that never deadlocks the pool)
// and returns a const reference: the value is never moved out, so a second
// get() (or another copy of the handle) sees the same value. A coroutine can
// `co_await handle` instead of blocking.
#pragma once

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/task_kinds.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

template <class T>
class [[nodiscard]] TaskHandle {
 public:
  TaskHandle() noexcept = default;
  explicit TaskHandle(TaskStateRef state) noexcept : state_(std::move(state)) {}

  bool valid() const noexcept { return static_cast<bool>(state_); }
  std::uint64_t id() const noexcept { return state_->id(); }
  std::string name() const { return state_->name(); }
  TaskStatus status() const noexcept { return state_->status(); }
  bool done() const noexcept { return state_->done(); }

  void wait() const { state_->wait(); }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return state_->wait_for(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }

  // Blocks, then returns the value or rethrows the task's exception
  // (TaskCancelledError for a cancelled task).
  decltype(auto) get() const {
    state_->wait();
    state_->rethrow_if_failed();
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      return static_cast<const TypedTaskState<T>&>(*state_).value();
    }
  }

  bool cancel() const { return state_->cancel(); }
  std::exception_ptr error() const noexcept { return state_->done() ? state_->error() : nullptr; }

  TaskState& state() const noexcept { return *state_; }
  const TaskStateRef& state_ref() const noexcept { return state_; }

  // co_await handle: suspends without blocking a thread; resumes on the
  // awaiting worker's pool. Yields the value (copied) or rethrows.
  struct Awaiter {
    const TaskHandle* handle;
    TaskState::AwaitNode node;
    bool await_ready() const noexcept { return handle->done(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      node.continuation = h;
      node.resume_on = Executor::current();
      return handle->state_->add_awaiter(&node);
    }
    auto await_resume() const {
      handle->state_->rethrow_if_failed();
      if constexpr (std::is_void_v<T>) {
        return;
      } else {
        return T(static_cast<const TypedTaskState<T>&>(*handle->state_).value());
      }
    }
  };
  Awaiter operator co_await() const& noexcept { return Awaiter{this, {}}; }

 private:
  TaskStateRef state_;
};

}  // namespace dftracer::utils
