// Runtime: the compute pool, the I/O pool, the registry of submitted tasks,
// and the lifecycle (wait_all, shutdown) that ties them together.
//
// Submitted tasks are counted in `active_` from submit until their waiters
// are released; wait_all() waits for it to reach zero, so it also covers
// tasks submitted by running tasks.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/forced_unwind.hpp"
#include "dftracer/utils/core/pending_limit.hpp"
#include "dftracer/utils/core/registry.hpp"
#include "dftracer/utils/core/task.hpp"
#include "dftracer/utils/core/task_handle.hpp"
#include "dftracer/utils/core/task_state.hpp"
#include "dftracer/utils/core/watchdog.hpp"

namespace dftracer::utils {

enum class Pool : std::uint8_t { compute, io };

// How submit_state takes its max_pending slot: `wait` applies the rule in
// PendingLimit::admit; `admitted` means the caller already holds one (a
// binding that waited its own way, e.g. with the GIL released).
enum class Admission : std::uint8_t { wait, admitted };

struct RuntimeOptions {
  std::size_t threads = 0;     // compute workers; 0: DFTRACER_UTILS_THREADS or CPUs
  std::size_t io_threads = 0;  // I/O workers; 0: same as the compute pool
  std::size_t max_spare_threads = 256;
  // Most tasks queued or running at once before submit() waits (0: no
  // bound); the runtime's own workers are never made to wait (PendingLimit).
  std::size_t max_pending = 0;
  RegistryOptions registry;
  WatchdogOptions watchdog;  // interval 0: no watchdog thread
  // Called on every worker thread of both pools just before it exits.
  std::function<void()> on_worker_exit;
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
    } DFTRACER_RETHROW_FORCED_UNWIND catch (...) {
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
  CoroutineTaskState(Task<T> task, std::string name)
      : TypedTaskState<T>(std::move(name)), task_(std::move(task)) {}

 protected:
  void run() override {
    this->add_ref();  // held by the root until it ends
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
    } DFTRACER_RETHROW_FORCED_UNWIND catch (...) {
      self->task_ = Task<T>();
      self->finish_failure(std::current_exception());
    }
    self->release();
  }

  Task<T> task_;
};
}  // namespace detail

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  // Cancels what is still queued, waits for running tasks, joins every thread.
  ~Runtime();

  template <class T>
  TaskHandle<T> submit(Task<T> task, std::string name = {}, Pool pool = Pool::compute) {
    auto* state = new detail::CoroutineTaskState<T>(std::move(task), std::move(name));
    TaskStateRef ref = TaskStateRef::adopt(state);
    submit_state(*state, pool);
    return TaskHandle<T>(std::move(ref));
  }

  // A plain callable, or one returning Task<T> (a coroutine lambda).
  template <class F>
    requires std::invocable<std::decay_t<F>&>
  auto submit(F&& fn, std::string name = {}, Pool pool = Pool::compute) {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    if constexpr (is_task_v<R>) {
      // Not submit(fn()): the coroutine reaches its captures through the
      // closure object, usually a temporary that dies when submit returns.
      return submit(detail::invoke_owned(std::decay_t<F>(std::forward<F>(fn))), std::move(name), pool);
    } else {
      auto* state = new detail::CallableTaskState<std::decay_t<F>, R>(std::forward<F>(fn), std::move(name));
      TaskStateRef ref = TaskStateRef::adopt(state);
      submit_state(*state, pool);
      return TaskHandle<R>(std::move(ref));
    }
  }

  // Submits a prepared state (bindings, the C ABI). The caller keeps its own
  // reference; the runtime takes the ones it needs. Throws
  // RuntimeShutdownError when closed.
  void submit_state(TaskState& state, Pool pool = Pool::compute, Admission admission = Admission::wait);

  // Waits until no submitted task is queued or running. Throws
  // std::logic_error from one of this runtime's own workers (it would wait
  // for itself).
  void wait_all();
  bool wait_all_for(std::chrono::nanoseconds timeout);

  // wait=true: refuses new work from outside, lets everything queued (and
  // what it submits) run, then joins the pools. wait=false: cancels queued
  // tasks, asks running ones to stop, waits for them, joins. Idempotent.
  void shutdown(bool wait = true);
  bool is_shut_down() const noexcept { return shut_down_.load(std::memory_order_acquire); }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Called for every failed or timed-out task, on the finishing thread,
  // before its waiters are released. Must not throw.
  using FailureHook = std::function<void(TaskState&)>;
  void set_failure_hook(FailureHook hook);

  Executor& compute() noexcept { return *compute_; }
  Executor& io() noexcept { return *io_; }
  Registry& registry() noexcept { return registry_; }
  PendingLimit& pending_limit() noexcept { return pending_limit_; }
  const Registry& registry() const noexcept { return registry_; }
  std::size_t threads() const noexcept { return compute_->threads(); }
  std::size_t io_threads() const noexcept { return io_->threads(); }
  // seq_cst: the watchdog's idle check pairs it with its own flag (see
  // Watchdog::run); a plain load on x86 all the same.
  std::uint64_t active() const noexcept { return active_.load(std::memory_order_seq_cst); }

  // Per-task timeout, counted from the start of execution (0: none). A task
  // past it completes with TaskTimeoutError and is asked to stop.
  void set_default_task_timeout(std::chrono::nanoseconds timeout) noexcept {
    default_task_timeout_ns_.store(timeout.count() > 0 ? timeout.count() : 0, std::memory_order_relaxed);
    if (watchdog_) watchdog_->wake();
  }
  std::int64_t default_task_timeout_ns() const noexcept {
    return default_task_timeout_ns_.load(std::memory_order_relaxed);
  }
  // Global timeout from now (0: none): once it passes, every queued and
  // running task times out and is_responsive() turns false.
  void set_timeout(std::chrono::nanoseconds timeout);
  // False while stalled (work queued, nothing finishing), past the global
  // timeout, or shut down. Without a watchdog: false only when shut down.
  bool is_responsive() const noexcept;
  // Null when built with watchdog interval 0.
  Watchdog* watchdog() noexcept { return watchdog_.get(); }

  // The runtime whose worker (either pool) is the calling thread, or null.
  static Runtime* current() noexcept;

 private:
  friend class TaskState;
  void task_finished(TaskState& task);
  void task_settled() noexcept;
  void settle_one() noexcept;

  RuntimeOptions options_;
  PendingLimit pending_limit_;
  Registry registry_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::uint64_t> active_{0};
  std::atomic<std::int64_t> default_task_timeout_ns_{0};
  std::atomic<std::uint32_t> idle_epoch_{0};
  std::atomic<std::uint32_t> wait_all_waiters_{0};
  std::atomic<bool> accepting_external_{true};
  std::atomic<bool> closed_{false};
  std::atomic<bool> shut_down_{false};
  std::mutex shutdown_mu_;
  std::mutex hook_mu_;
  std::shared_ptr<FailureHook> failure_hook_;
  // Declared last: destroyed (threads joined) first.
  std::unique_ptr<Executor> io_;
  std::unique_ptr<Executor> compute_;
  // After the pools: destroyed (stopped) before them.
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace dftracer::utils
