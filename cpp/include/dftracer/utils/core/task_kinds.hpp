// The kinds of submitted task the core defines, in one place:
//
//   TypedTaskState<T>        a TaskState with a typed result slot (what
//                            TaskHandle<T> reads);
//   CallableTaskState<F, R>  a plain callable run once on a worker;
//   CoroutineTaskState<T>    a Task<T> driven to completion by a detached
//                            root coroutine, wherever it resumes.
//
// The bindings define their own kinds (Python callables, C ABI tasks) in
// cpp/python/task_kinds.{hpp,cpp}.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/detail/forced_unwind.hpp"
#include "dftracer/utils/core/task.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

// TaskState with a typed result slot.
template <class T>
class TypedTaskState : public TaskState {
 public:
  using TaskState::TaskState;
  // Valid after a successful finish.
  const T& value() const { return *value_; }

 protected:
  template <class... A>
  void set_value(A&&... args) {
    value_.emplace(std::forward<A>(args)...);
  }

 private:
  std::optional<T> value_;
};

template <>
class TypedTaskState<void> : public TaskState {
 public:
  using TaskState::TaskState;
  void value() const {}

 protected:
  void set_value() {}
};

namespace detail {

template <class F, class R>
class CallableTaskState final : public TypedTaskState<R> {
 public:
  CallableTaskState(F fn, std::string name) : TypedTaskState<R>(std::move(name)), fn_(std::move(fn)) {}

 protected:
  void run() override {
    try {
      if constexpr (std::is_void_v<R>) {
        (*fn_)();
        fn_.reset();
        this->set_value();
      } else {
        R value = (*fn_)();
        fn_.reset();  // free captures now, not when the last handle goes
        this->set_value(std::move(value));
      }
      this->finish_success();
    } catch (const detail::ForcedUnwind&) {
      throw;
    } catch (...) {
      fn_.reset();
      this->finish_failure(std::current_exception());
    }
  }

 private:
  std::optional<F> fn_;
};

// Calls a coroutine lambda from inside a frame that owns it, so its captures
// live as long as the coroutine it returns.
template <class F, class R = typename std::invoke_result_t<F&>::value_type>
Task<R> invoke_owned(F fn) {
  if constexpr (std::is_void_v<R>) {
    co_await fn();
  } else {
    co_return co_await fn();
  }
}

// Top-level coroutine of a submitted coroutine task: it owns one reference
// on the state until the body has finished, wherever it resumes.
struct DetachedRoot {
  struct promise_type : PromiseBase {
    DetachedRoot get_return_object() noexcept {
      return DetachedRoot{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

template <class T>
class CoroutineTaskState final : public TypedTaskState<T> {
 public:
  CoroutineTaskState(Task<T> task, std::string name) : TypedTaskState<T>(std::move(name)), task_(std::move(task)) {}

 protected:
  void run() override {
    this->add_ref();  // held by the root until it ends
    if (TaskHost* host = this->host()) host->on_body_started();
    DetachedRoot root = drive(this);
    root.handle.promise().owner = this;
    root.handle.resume();
  }

 private:
  static DetachedRoot drive(CoroutineTaskState* self) {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(self->task_);
        self->task_ = Task<T>();
        self->set_value();
      } else {
        T value = co_await std::move(self->task_);
        self->task_ = Task<T>();
        self->set_value(std::move(value));
      }
      self->finish_success();
    } catch (const detail::ForcedUnwind&) {
      throw;
    } catch (...) {
      self->task_ = Task<T>();
      self->finish_failure(std::current_exception());
    }
    // The body's frames are gone (task_ reset above); only this root frame
    // is left, and it touches nothing of the host after the call below.
    TaskHost* host = self->host();
    self->release();
    if (host) host->on_body_ended();
  }

  Task<T> task_;
};

}  // namespace detail
}  // namespace dftracer::utils
