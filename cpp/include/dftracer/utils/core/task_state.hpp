// TaskState: the shared, reference-counted record of one *submitted* task.
//
// It owns what a user can ask about a task (id, name, status, timestamps,
// subtask progress, error) and the body to run. TaskHandle<T>, queue entries,
// the registry's live list and the watchdog hold references to it. Child
// coroutines spawned inside a task never get one: they are counted by their
// parent (docs/design.md: two kinds of work).
//
// Lifecycle (docs/design.md, "The life of a task"); `status_` is the only
// source of truth, every transition is one CAS on it:
//
//   queued --claim--> running --finalize--> completed | failed | timed_out
//   queued --finalize--> cancelled | timed_out         (never ran)
//
//  - claim: the queue entry's runner and a thread blocked on the handle race
//    to move queued -> running (try_claim); the winner runs the body.
//  - finalize: the first CAS from a live status (queued, running) to a final
//    one wins (finish_*, cancel(), a timeout); losers change nothing. So a
//    body can never start after its task is final, and a late finish from a
//    timed-out body is a no-op.
//  - tail (run_tail, exactly once, by the winner or by the host's callback
//    thread): the host records it and runs the failure hook, then waiters
//    are released (done()), then on_final(), then the host stops counting it
//    active (settled). What an error callback records is therefore there when
//    get() returns.
//  - A final task's body may still be running (a timeout settles a task
//    whose code goes on): *settled* is not *body finished*; the runtime waits
//    for bodies separately before it stops its pools.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include "dftracer/utils/core/detail/task_pool.hpp"
#include "dftracer/utils/core/detail/work_item.hpp"
#include "dftracer/utils/core/task_host.hpp"
#include "dftracer/utils/core/task_status.hpp"

namespace dftracer::utils {

class Executor;
struct WorkerSlot;

// Steady-clock nanoseconds, the unit of every task timestamp.
std::int64_t now_ns() noexcept;
// Milliseconds from one timestamp to a later one; 0 when either is unset.
inline double ms_between_ns(std::int64_t from_ns, std::int64_t to_ns) noexcept {
  if (from_ns == 0 || to_ns == 0 || to_ns < from_ns) return 0.0;
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

class TaskState : public QueueEntry {
 public:
  explicit TaskState(std::string name = {});
  // Every kind of task state comes from the task pool (a state is made on
  // one thread and freed on another: see detail/task_pool.hpp). Sized: a
  // virtual destructor passes the most derived type's size.
  static void* operator new(std::size_t size) { return detail::TaskPool::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { detail::TaskPool::deallocate(p, size); }
  // A state over-aligned by its result type bypasses the pool (its blocks
  // are aligned to the default new alignment only).
  static void* operator new(std::size_t size, std::align_val_t al) { return ::operator new(size, al); }
  static void operator delete(void* p, std::size_t size, std::align_val_t al) noexcept {
    ::operator delete(p, size, al);
  }
  TaskState(const TaskState&) = delete;
  TaskState& operator=(const TaskState&) = delete;
  virtual ~TaskState();

  // Called once by the host when the task is submitted, before it is queued.
  // `parent_id`: the submitted task that submitted this one (0: none).
  void attach(TaskHost* host, Executor* executor, std::uint64_t id, std::int64_t submit_ns,
              std::uint64_t parent_id) noexcept {
    host_ = host;
    executor_ = executor;
    id_ = id;
    submit_ns_ = submit_ns;
    parent_id_ = parent_id;
  }

  std::uint64_t id() const noexcept { return id_; }
  // The name given at submit, or "task-<id>" for an unnamed submitted task.
  // By value: the automatic name is formatted here, on read, not at submit
  // (formatting it cost ~200 instructions on every submit, and most names
  // are never read). Empty for a state that was never submitted.
  std::string name() const { return name_.empty() && id_ != 0 ? automatic_name(id_) : name_; }
  // The name as given (empty: automatic). No allocation; for hot paths that
  // can format the automatic name later from the id.
  const std::string& given_name() const noexcept { return name_; }
  static std::string automatic_name(std::uint64_t id);
  TaskStatus status() const noexcept { return status_.load(std::memory_order_acquire); }
  bool done() const noexcept { return (done_word_.load(std::memory_order_acquire) & 1u) != 0; }

  // Blocks until the task is final. On a worker of the task's own pool, a
  // task that is still queued runs inline here; otherwise the worker is
  // reported as blocked so the pool can add a temporary worker: waiting on a
  // handle never deadlocks the pool.
  void wait();
  // As wait(), with a deadline. Returns done().
  bool wait_for(std::chrono::nanoseconds timeout);

  // Cancels a task that has not started: true if it will never run. For a
  // running task it sets the cooperative token (cancel_requested()) and
  // returns false.
  bool cancel();
  bool cancel_requested() const noexcept { return cancel_requested_.load(std::memory_order_relaxed); }

  // Valid once done() (or on the thread that finalized it): null for a
  // completed task.
  std::exception_ptr error() const noexcept { return error_; }
  void rethrow_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }

  std::int64_t submit_ns() const noexcept { return submit_ns_; }
  std::int64_t start_ns() const noexcept { return start_ns_.load(std::memory_order_relaxed); }
  std::int64_t end_ns() const noexcept { return end_ns_.load(std::memory_order_relaxed); }
  // When a running task times out (0: never). Set at start from the
  // runtime's default task timeout; enforced by the watchdog.
  std::int64_t deadline_ns() const noexcept { return deadline_ns_.load(std::memory_order_relaxed); }
  void set_deadline_ns(std::int64_t deadline) noexcept { deadline_ns_.store(deadline, std::memory_order_relaxed); }

  // Subtask progress, reported by the task itself.
  void set_total_subtasks(std::uint64_t total) noexcept { total_subtasks_.store(total, std::memory_order_relaxed); }
  void add_completed_subtasks(std::uint64_t n = 1) noexcept {
    completed_subtasks_.fetch_add(n, std::memory_order_relaxed);
  }
  void set_completed_subtasks(std::uint64_t n) noexcept { completed_subtasks_.store(n, std::memory_order_relaxed); }
  std::uint64_t total_subtasks() const noexcept { return total_subtasks_.load(std::memory_order_relaxed); }
  std::uint64_t completed_subtasks() const noexcept { return completed_subtasks_.load(std::memory_order_relaxed); }

  // Who runs it (the Runtime), or null before submit.
  TaskHost* host() const noexcept { return host_; }
  Executor* executor() const noexcept { return executor_; }

  // The id of the task whose body submitted this one (0: submitted from
  // outside any task). Set once at submit; progress derives each task's
  // children from it, so submitting pays for no list of children.
  std::uint64_t parent_id() const noexcept { return parent_id_; }
  // Where the task's code was defined ("file.py:line"), or null when
  // unknown. Set before submit; the string must outlive every snapshot of
  // the task (a literal, or one interned for the process's life).
  const char* location() const noexcept { return location_; }
  void set_location(const char* location) noexcept { location_ = location; }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    // acq_rel: the thread that deletes sees every write made through the
    // other references.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // For coroutines awaiting this task: a node lives in the awaiting frame.
  struct AwaitNode {
    AwaitNode* next = nullptr;
    std::coroutine_handle<> continuation;
    Executor* resume_on = nullptr;  // null: resume inline on the finishing thread
    // When set, called (on the finishing thread) instead of resuming
    // `continuation`: completion callbacks for foreign code (the C ABI).
    void (*notify)(AwaitNode* self) = nullptr;
  };
  // Returns false (and does not enqueue) when the task is already done.
  bool add_awaiter(AwaitNode* node) noexcept;

  // QueueEntry: claims and runs the task, or does nothing when a blocked
  // waiter, cancel() or a timeout got there first; then drops the queue's
  // reference.
  void run_from_queue() override;
  void discard_from_queue() noexcept override { release(); }

  // Final-state transitions for the body and for the watchdog. Return false
  // when the task was already final (the first finisher wins). The caller
  // must hold a reference for the whole call: releasing the waiters may drop
  // every other one.
  bool finish_success() { return finish(TaskStatus::completed, nullptr); }
  bool finish_failure(std::exception_ptr error) { return finish(TaskStatus::failed, std::move(error)); }
  bool finish_timed_out(std::exception_ptr error) { return finish(TaskStatus::timed_out, std::move(error)); }
  // Asks a running body to stop (cooperative).
  void request_cancel() noexcept { cancel_requested_.store(true, std::memory_order_relaxed); }

  // The finishing steps after a won finalization (see the top of this file).
  // Public for hosts that run it on another thread (finish_elsewhere); call
  // it exactly once per finalization, holding a reference.
  void run_tail(TaskStatus from);

 protected:
  // The body. Must end by calling finish_success or finish_failure, now or
  // later (a coroutine body finishes when its root coroutine does).
  virtual void run() = 0;
  // Called once, after the task became final and its waiters were released
  // (whoever finished it: the body, cancel(), a timeout). For subclasses
  // that own resources tied to the body's life.
  virtual void on_final() {}
  // Claims a still-queued task and runs it on the calling thread, whatever
  // thread that is; true when it did. For task kinds whose host lets a
  // waiting thread run what it waits for (a Python thread in get(): it holds
  // the GIL the task needs anyway).
  bool run_on_caller();

 private:
  friend class Registry;  // the live list's links

  bool try_claim() noexcept;
  void execute();
  // execute() publishing into `slot` (null: none); a slot shared with an
  // outer task on this thread shows that task again afterwards.
  void execute_in(WorkerSlot* slot, bool slot_shared_with_outer);
  // Moves a live status to `final_status`; on success `from` is the status
  // it moved from. The winner alone then writes error_ and end_ns_.
  bool try_finalize(TaskStatus final_status, TaskStatus& from) noexcept;
  bool finish(TaskStatus final_status, std::exception_ptr error);
  // Spins briefly, then sleeps on done_word_ (as a blocked worker when on a
  // pool) until done or `deadline`. Returns done().
  bool block_until_done(std::optional<std::chrono::steady_clock::time_point> deadline);
  // On a worker of the task's own pool, claims a still-queued task and runs
  // it here; true when it did.
  bool run_inline_if_queued();

  void release_waiters();

  std::atomic<std::uint32_t> refs_{1};
  std::atomic<TaskStatus> status_{TaskStatus::queued};
  std::atomic<bool> cancel_requested_{false};
  // bit 0: done; the rest counts blocked waiters (2 per waiter) so the
  // finisher skips the futex wake when nobody sleeps (~240 ns saved).
  std::atomic<std::uint32_t> done_word_{0};
  std::atomic<AwaitNode*> awaiters_{nullptr};

  std::uint64_t id_ = 0;
  std::string name_;  // as given; written only by the constructor
  TaskHost* host_ = nullptr;
  Executor* executor_ = nullptr;
  std::uint64_t parent_id_ = 0;
  const char* location_ = nullptr;
  std::exception_ptr error_;  // written by the finalization's winner, read once done()

  std::int64_t submit_ns_ = 0;
  std::atomic<std::int64_t> start_ns_{0};
  std::atomic<std::int64_t> end_ns_{0};
  std::atomic<std::int64_t> deadline_ns_{0};
  std::atomic<std::uint64_t> total_subtasks_{0};
  std::atomic<std::uint64_t> completed_subtasks_{0};

  // Registry bookkeeping, guarded by the registry shard's mutex.
  TaskState* reg_prev_ = nullptr;
  TaskState* reg_next_ = nullptr;
};

// Owning smart pointer for TaskState references.
class TaskStateRef {
 public:
  TaskStateRef() noexcept = default;
  // Adopts a reference the caller already owns.
  static TaskStateRef adopt(TaskState* s) noexcept {
    TaskStateRef r;
    r.ptr_ = s;
    return r;
  }
  static TaskStateRef share(TaskState* s) noexcept {
    if (s) s->add_ref();
    return adopt(s);
  }
  TaskStateRef(const TaskStateRef& o) noexcept : ptr_(o.ptr_) {
    if (ptr_) ptr_->add_ref();
  }
  TaskStateRef(TaskStateRef&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
  TaskStateRef& operator=(TaskStateRef o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  ~TaskStateRef() {
    if (ptr_) ptr_->release();
  }
  TaskState* get() const noexcept { return ptr_; }
  TaskState* operator->() const noexcept { return ptr_; }
  TaskState& operator*() const noexcept { return *ptr_; }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }

 private:
  TaskState* ptr_ = nullptr;
};

namespace this_task {
// The submitted task whose body runs on this thread right now (callable
// tasks, and coroutine tasks until their first suspension), or null. Inside
// a coroutine use `co_await this_task::owner()` (task.hpp), which is right
// after any number of suspensions.
TaskState* current() noexcept;
// Shorthands for the task's cooperative cancel token and progress.
bool cancelled() noexcept;
void report_progress(std::uint64_t completed, std::uint64_t total) noexcept;
}  // namespace this_task

}  // namespace dftracer::utils
