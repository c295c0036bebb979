// Task<T>: the lazy coroutine type of the runtime.
//
// A Task does nothing until it is awaited (or submitted). `co_await task`
// starts it on the current thread by symmetric transfer and resumes the
// awaiter the same way when it finishes, so a chain of awaits never grows the
// stack. Exceptions thrown in the task are rethrown at the awaiter. Frames come
// from the per-thread FramePool.
//
// Every promise carries `owner`: the submitted task (TaskState) this coroutine
// works for. It is copied from parent to child on await and spawn, so code deep
// in a fork-join tree can check its task's cancel token or report progress
// without any registry lookup.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/detail/frame_allocator.hpp"

namespace dftracer::utils {

class TaskState;
template <class T = void>
class Task;

namespace detail {

// join_state values of a spawned child (see fork_join.hpp): null while
// nobody waits, the awaiting parent's frame address once it waits, or one of
// these markers.
inline void* const kJoinDone = reinterpret_cast<void*>(std::uintptr_t{1});
inline void* const kJoinDetached = reinterpret_cast<void*>(std::uintptr_t{2});

// The spawned child this thread is running inline right now, inside its
// joiner's resume() call (the join fast path, fork_join.hpp), or null. Only
// frames currently nested on this thread's stack are ever stored here, so a
// child that finds its own address here knows its joiner is waiting right
// below it on this stack. constinit: read without a TLS init guard.
inline constinit thread_local void* tls_inline_child = nullptr;

// A detached child may outlive the submitted task it works for (its owner):
// it holds a reference on it from the detach until it ends. Defined with
// TaskState (task_state.cpp); the coroutine layer sees only these two.
void retain_owner(TaskState* owner) noexcept;
void release_owner(TaskState* owner) noexcept;

struct PromiseBase : FrameAllocated {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  TaskState* owner = nullptr;
  // Only for spawned children: who continues after us is decided when we
  // finish, by an exchange on join_state. Plain awaits skip the atomic.
  bool spawned = false;
  // Set by detach_child before it publishes kJoinDetached: we hold a
  // reference on `owner`, to drop when we free ourselves.
  bool holds_owner = false;
  std::atomic<void*> join_state{nullptr};

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (!p.spawned) return p.continuation;
      if (tls_inline_child == h.address()) {
        // Run inline by our joiner, and still nested in its resume() call on
        // this thread: it reads join_state right after we return, on this
        // thread, so a relaxed store suffices (no other thread can have
        // seen this child: the joiner took it back from its own deque).
        p.join_state.store(kJoinDone, std::memory_order_relaxed);
        return std::noop_coroutine();
      }
      // acq_rel: publishes our result to the joiner; sees its frame.
      void* prev = p.join_state.exchange(kJoinDone, std::memory_order_acq_rel);
      // null: nobody waits yet (or an inline joiner we suspended away from
      // has not parked itself yet); it will see kJoinDone.
      if (prev == nullptr) return std::noop_coroutine();
      if (prev == kJoinDetached) {  // nobody will ever join: free ourselves
        // The acq_rel exchange above saw the detacher's release: holds_owner
        // is its value.
        if (p.holds_owner) release_owner(p.owner);
        h.destroy();
        return std::noop_coroutine();
      }
      return std::coroutine_handle<>::from_address(prev);  // resume the waiting parent
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
};

template <class T>
struct Promise : PromiseBase {
  // The value lives in a union with a flag rather than a std::variant: every
  // fork-join task sets and reads it once, and the variant's index switches
  // (emplace, get, destructor) were a tenth of a fib task's instructions.
  union {
    T value;
  };
  std::exception_ptr error;
  bool has_value = false;

  Promise() noexcept {}
  Promise(const Promise&) = delete;
  Promise& operator=(const Promise&) = delete;
  ~Promise() {
    if (has_value) value.~T();
  }

  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { error = std::current_exception(); }
  template <class U>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    ::new (static_cast<void*>(std::addressof(value))) T(std::forward<U>(v));
    has_value = true;
  }

  T take() {
    if (error) std::rethrow_exception(error);
    assert(has_value && "Task result read before completion");
    return std::move(value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  std::exception_ptr error;

  Task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { error = std::current_exception(); }
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

// Inherits the awaiting coroutine's owner when the awaiter is one of ours.
template <class P>
void inherit_owner(PromiseBase& child, std::coroutine_handle<P> parent) noexcept {
  if constexpr (std::is_base_of_v<PromiseBase, P>) child.owner = parent.promise().owner;
}

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }

  struct Awaiter {
    std::coroutine_handle<promise_type> handle;
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiter) noexcept {
      handle.promise().continuation = awaiter;
      detail::inherit_owner(handle.promise(), awaiter);
      return handle;
    }
    T await_resume() { return handle.promise().take(); }
  };

  // Awaiting consumes the task: the frame stays owned by this Task object
  // (destroyed with it), the result is moved out once.
  Awaiter operator co_await() && noexcept {
    assert(handle_ && "awaiting an empty Task");
    return Awaiter{handle_};
  }

  // For the executor and adapters: give up ownership of the frame.
  std::coroutine_handle<promise_type> release() noexcept { return std::exchange(handle_, {}); }
  std::coroutine_handle<promise_type> handle() const noexcept { return handle_; }

 private:
  void reset() noexcept {
    if (handle_) handle_.destroy();
    handle_ = {};
  }
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

template <class T>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<Task<T>> = true;

namespace this_task {
// `co_await this_task::owner()` inside a coroutine gives the submitted task
// it works for (its TaskState, or null outside a submitted task), wherever
// and however often the coroutine has been resumed: the owner travels with
// the promise through every await and spawn. this_task::current() only
// knows the task whose body the calling thread started.
struct OwnerAwaiter {
  TaskState* owner = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    if constexpr (std::is_base_of_v<detail::PromiseBase, P>) owner = h.promise().owner;
    return false;  // never actually suspends
  }
  TaskState* await_resume() const noexcept { return owner; }
};
inline OwnerAwaiter owner() noexcept { return {}; }
}  // namespace this_task

}  // namespace dftracer::utils
