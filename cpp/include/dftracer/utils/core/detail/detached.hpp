// DetachedChild: a self-freeing coroutine that when_any and TaskScope use to
// run each of their children on the pool.
//
// Unlike a spawned Task (fork_join.hpp), nobody joins it: it is queued on an
// executor, runs its body, and its frame frees itself at the end, on
// whichever thread that happens. The body reports its outcome through shared
// state it holds a reference to, so the coroutine that started it may have
// moved on (when_any) or be suspended elsewhere (TaskScope::join) and no
// frame is ever touched after it is freed. Its body must not throw (it
// catches everything and records it): an escaping exception terminates.
//
// It carries the starting coroutine's owner (task.hpp), so code inside sees
// the same submitted task through `co_await this_task::owner()`.
#pragma once

#include <coroutine>
#include <exception>
#include <utility>

#include "dftracer/utils/core/detail/work_item.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/task.hpp"

namespace dftracer::utils::detail {

class [[nodiscard]] DetachedChild {
 public:
  struct promise_type : PromiseBase {
    DetachedChild get_return_object() noexcept {
      return DetachedChild(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    // Hides PromiseBase::final_suspend: run to the end, then free the frame.
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };

  DetachedChild(DetachedChild&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  DetachedChild(const DetachedChild&) = delete;
  DetachedChild& operator=(const DetachedChild&) = delete;
  DetachedChild& operator=(DetachedChild&&) = delete;
  // Never started: nothing ran, free the frame.
  ~DetachedChild() {
    if (h_) h_.destroy();
  }

  // Queues the coroutine on `ex` (our deque when called from one of its
  // workers) with `owner` as its submitted task; it frees itself from then on.
  void start_on(Executor& ex, TaskState* owner) && {
    h_.promise().owner = owner;
    ex.schedule(WorkItem::coroutine(std::exchange(h_, {})));
  }

 private:
  explicit DetachedChild(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

}  // namespace dftracer::utils::detail
