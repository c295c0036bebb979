// Runtime: the compute pool, the I/O pool, the registry of submitted tasks,
// the watchdog and the callback thread, and the lifecycle (wait_all,
// shutdown) that ties them together. It is the TaskHost of every task
// submitted to it.
//
// Counts: a submitted task is *active* from submit until its waiters are
// released (settled); wait_all() waits for none to be active, so it also
// covers tasks submitted by running tasks. A coroutine task's *body* is
// counted separately, from its start until its frames are gone: a timeout
// settles a task whose body may still be suspended, and the pools must not
// stop under it (issue 10, item 4).
//
// Shutdown closes first, then drains: no new work from outside once it has
// begun, so a drain always ends (docs/design.md, "Shutdown, exit and fork").
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/detail/callback_thread.hpp"
#include "dftracer/utils/core/detail/pending_limit.hpp"
#include "dftracer/utils/core/detail/worker_slot.hpp"
#include "dftracer/utils/core/detail/zero_wait_counter.hpp"
#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/registry.hpp"
#include "dftracer/utils/core/runtime_defaults.hpp"
#include "dftracer/utils/core/task.hpp"
#include "dftracer/utils/core/task_dump.hpp"
#include "dftracer/utils/core/task_handle.hpp"
#include "dftracer/utils/core/task_host.hpp"
#include "dftracer/utils/core/task_kinds.hpp"
#include "dftracer/utils/core/task_state.hpp"
#include "dftracer/utils/core/watchdog.hpp"

namespace dftracer::utils {

// The timeline (tracer.hpp): only named here, so that the runtime's header
// does not pull in the tracer's.
class Tracer;
struct TraceOptions;
struct TraceSummary;

enum class Pool : std::uint8_t { compute, io };

// How submit_state takes its max_pending slot: `wait` applies the rule in
// PendingLimit::admit; `admitted` means the caller already holds one (a
// binding that waited its own way, e.g. with the GIL released).
enum class Admission : std::uint8_t { wait, admitted };

struct RuntimeOptions {
  std::size_t threads = 0;     // compute workers; 0: DFTRACER_UTILS_THREADS or CPUs
  std::size_t io_threads = 0;  // I/O workers; 0: same as the compute pool
  // Temporary workers per pool: for blocked waits and for the watchdog's
  // starvation rescue, one cap for both.
  std::size_t max_temporary_workers = defaults::kMaxTemporaryWorkers;
  // Most tasks queued or running at once before submit() waits (0: no
  // bound); the runtime's own workers are never made to wait (PendingLimit).
  std::size_t max_pending = defaults::kMaxPending;
  RegistryOptions registry;
  WatchdogOptions watchdog;  // interval 0: no watchdog thread
  // Called on every thread the runtime owns that may have run user code (the
  // workers of both pools, the callback thread) just before it exits.
  std::function<void()> on_worker_exit;
  // See ExecutorOptions::on_forked_child.
  std::function<void()> on_forked_child;
};

class Runtime final : public TaskHost {
 public:
  // Throws std::invalid_argument for sizes beyond kMaxPoolThreads and
  // ThreadStartError when the system refuses a thread (nothing is left
  // running then).
  explicit Runtime(RuntimeOptions options = {});
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  // Cancels what is still queued, waits for running tasks and bodies, joins
  // every thread.
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
  requires std::invocable < std::decay_t<F>
  & > auto submit(F&& fn, std::string name = {}, Pool pool = Pool::compute) {
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
  // RuntimeShutdownError when closed to the caller. `admission`: see
  // Admission (max_pending).
  void submit_state(TaskState& state, Pool pool = Pool::compute, Admission admission = Admission::wait);

  // Waits until no submitted task is active. Throws std::logic_error from a
  // thread this runtime owns (it would wait for itself).
  void wait_all();
  bool wait_all_for(std::chrono::nanoseconds timeout);

  // The shutdown steps, for hosts that wait between them interruptibly (the
  // Python binding); shutdown() runs them in order.
  //
  // close(): refuses new work from outside from now on (tasks may still
  // submit children) or, with `everything`, from anywhere. Idempotent.
  void close(bool everything);
  // Undoes close() when a shutdown was abandoned half way (interrupted by
  // Ctrl-C during its drain): the runtime takes work again. No-op once shut
  // down.
  void reopen();
  // Cancels every queued task and sets the cancel token of running ones
  // (queued ones first: a running task that stops frees its worker, which
  // would start queued ones before one pass over the list reached them).
  // Returns how many were cancelled before they ran.
  std::size_t cancel_live();
  // True once nothing is active and no body runs (callable or coroutine),
  // waiting at most `timeout` for it.
  bool drain_for(std::chrono::nanoseconds timeout);

  // wait=true: refuses new work from outside, lets everything queued (and
  // what it submits) run, then joins the pools. wait=false: cancels queued
  // tasks, asks running ones to stop, waits for them, joins. Idempotent.
  // Throws std::logic_error from a thread this runtime owns.
  void shutdown(bool wait = true);
  bool is_shut_down() const noexcept { return shut_down_.load(std::memory_order_acquire); }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Called for every failed or timed-out task before its waiters are
  // released: on the worker that finished it, or on the callback thread for
  // tasks finished by the watchdog or by a foreign thread; never on the
  // watchdog thread. Must not throw.
  using FailureHook = std::function<void(TaskState&)>;
  void set_failure_hook(FailureHook hook);

  Executor& compute() noexcept { return *compute_; }
  Executor& io() noexcept { return *io_; }
  Registry& registry() noexcept { return registry_; }
  PendingLimit& pending_limit() noexcept { return pending_limit_; }
  const Registry& registry() const noexcept { return registry_; }
  CallbackThread& callbacks() noexcept { return *callbacks_; }
  std::size_t threads() const noexcept { return compute_->threads(); }
  std::size_t io_threads() const noexcept { return io_->threads(); }
  std::uint64_t active() const noexcept { return active_.count(); }
  std::uint64_t bodies_running() const noexcept;

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

  // The runtime that owns the calling thread (a worker of either pool, its
  // callback thread or its watchdog), or null.
  static Runtime* current() noexcept;

  // TaskHost (called by the tasks themselves).
  void on_task_started(TaskState& task, std::int64_t start_ns) noexcept override;
  void on_task_finished(TaskState& task, TaskStatus from) override;
  void on_task_settled() noexcept override {
    // The pending slot first: remove_one may be the runtime's last access.
    if (pending_limit_.enabled()) pending_limit_.release();
    active_.remove_one();
  }
  bool finishes_on_this_thread() const noexcept override;
  void finish_elsewhere(TaskState& task, TaskStatus from) override;
  void on_body_started() noexcept override { bodies_.add(); }
  void on_body_ended() noexcept override { bodies_.remove_one(); }
  WorkerSlot* claim_caller_slot() noexcept override;
  void return_caller_slot(WorkerSlot* slot) noexcept override;
  bool tasks_may_time_out() const noexcept override {
    return default_task_timeout_ns() > 0 || (watchdog_ && watchdog_->global_timeout_set());
  }

  // Tasks running on threads that wait for them (caller runs), as the
  // executors' workers_view shows theirs: id, name, since when.
  struct CallerView {
    std::uint32_t index;
    std::uint64_t task_id;
    std::string task_name;  // display name
    std::int64_t task_since_ns;
  };
  std::vector<CallerView> callers_view() const;

  // The timeline (tracer.hpp; runtime_trace.cpp). start_trace throws
  // TraceError when the path cannot be written and std::logic_error while a
  // trace is already being written; stop_trace returns what was written
  // (an empty summary when none was). Shutdown stops a trace itself.
  void start_trace(TraceOptions options);
  TraceSummary stop_trace();
  bool tracing() const noexcept;
  std::string trace_path() const;
  // A watchdog action on the timeline (no-op when not tracing).
  void trace_instant(std::string_view name, std::string_view message, std::uint64_t task_id = 0) noexcept;
  // What runs and waits now, for task dumps (task_dump.hpp).
  std::vector<TaskDumpEntry> dump_tasks() const;

 private:
  void refuse_from_own_thread(const char* what) const;
  void stop_threads();

  RuntimeOptions options_;
  PendingLimit pending_limit_;
  Registry registry_;
  std::atomic<std::uint64_t> next_id_{1};
  ZeroWaitCounter active_;  // submitted and not yet settled
  ZeroWaitCounter bodies_;  // coroutine bodies not yet finished
  std::atomic<std::int64_t> default_task_timeout_ns_{0};
  std::atomic<bool> accepting_external_{true};
  std::atomic<bool> closed_{false};
  std::atomic<bool> shut_down_{false};
  std::mutex shutdown_mu_;
  std::mutex hook_mu_;
  std::shared_ptr<FailureHook> failure_hook_;
  // Slots for caller runs (claim_caller_slot): a handful of threads wait
  // at once at most; beyond that, tasks run unseen.
  static constexpr std::size_t kCallerSlots = 64;
  std::array<WorkerSlot, kCallerSlots> caller_slots_;
  std::array<std::atomic<bool>, kCallerSlots> caller_slot_taken_{};
  // The tracer being written to, or null (tracing off: on_task_finished
  // pays this one load). Tracers stay alive until the runtime goes: a thread
  // that loaded the pointer just before stop_trace still records into it.
  std::atomic<Tracer*> tracer_{nullptr};
  mutable std::mutex trace_mu_;
  std::vector<std::unique_ptr<Tracer>> traces_;
  // Destroyed in reverse order: the watchdog stops first, then the pools,
  // the callback thread last (the others post to it).
  std::unique_ptr<CallbackThread> callbacks_;
  std::unique_ptr<Executor> io_;
  std::unique_ptr<Executor> compute_;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace dftracer::utils
