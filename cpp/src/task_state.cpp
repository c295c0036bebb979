// TaskState lifecycle: claim, execute, finalize, tail, wait, cancel (the
// transitions are listed in task_state.hpp).
#include "dftracer/utils/core/task_state.hpp"

#include <cassert>
#include <chrono>
#include <optional>

#include "dftracer/utils/core/detail/cpu_relax.hpp"
#include "dftracer/utils/core/detail/forced_unwind.hpp"
#include "dftracer/utils/core/detail/futex.hpp"
#include "dftracer/utils/core/detail/thread_role.hpp"
#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"

namespace dftracer::utils {

namespace {
thread_local TaskState* tls_current_task = nullptr;

// Marks "no more awaiters accepted": the list head once the task is done.
TaskState::AwaitNode g_done_sentinel;

// A waiter spins this many pause rounds before sleeping: a wake from a futex
// costs far more than a short spin when the task is about to finish.
constexpr int kWaitSpinRounds = 2000;
// A wait on a thread that also runs deferred work (the runtime's callback
// thread) sleeps in slices this long, running that work between them: what
// it waits for may be queued behind it.
constexpr auto kCallbackThreadSlice = std::chrono::milliseconds(1);
}  // namespace

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TaskState::TaskState(std::string name) : name_(std::move(name)) {}

std::string TaskState::automatic_name(std::uint64_t id) { return automatic_task_name(id); }

TaskState::~TaskState() = default;

bool TaskState::try_claim() noexcept {
  TaskStatus expected = TaskStatus::queued;
  return status_.compare_exchange_strong(expected, TaskStatus::running, std::memory_order_acq_rel);
}

void TaskState::run_from_queue() {
  if (try_claim()) execute();
  release();  // the queue entry's reference
}

void TaskState::execute() { execute_in(Executor::current_slot(), /*slot_shared_with_outer=*/true); }

void TaskState::execute_in(WorkerSlot* slot, bool slot_shared_with_outer) {
  assert(status() != TaskStatus::queued && "execute() only after a won claim");
  std::int64_t start = now_ns();
  start_ns_.store(start, std::memory_order_relaxed);
  if (host_) host_->on_task_started(*this, start);

  TaskState* outer = tls_current_task;
  tls_current_task = this;
  if (slot) {
    slot->task_id.store(id_, std::memory_order_relaxed);
    slot->task_since_ns.store(start, std::memory_order_relaxed);
    slot->publish_name(name_);  // empty for an automatic name: see Executor::workers_view
    slot->activity.store(WorkerActivity::running, std::memory_order_relaxed);
  }

  try {
    run();
  } catch (const detail::ForcedUnwind&) {
    throw;
  } catch (...) {
    finish_failure(std::current_exception());
  }

  if (slot) {
    slot->tasks_run.fetch_add(1, std::memory_order_relaxed);
    if (outer && slot_shared_with_outer) {  // we ran inline inside another task's wait: show it again
      slot->task_id.store(outer->id_, std::memory_order_relaxed);
      slot->task_since_ns.store(outer->start_ns(), std::memory_order_relaxed);
      slot->publish_name(outer->name_);
    } else {
      slot->task_id.store(0, std::memory_order_release);  // Runtime::drain_for reads it
      slot->activity.store(WorkerActivity::idle, std::memory_order_relaxed);
    }
  }
  tls_current_task = outer;
}

bool TaskState::try_finalize(TaskStatus final_status, TaskStatus& from) noexcept {
  assert(is_final(final_status));
  TaskStatus s = status_.load(std::memory_order_acquire);
  while (!is_final(s)) {
    // acq_rel: the winner's later writes (error_, end_ns_) are published by
    // release_waiters; acquire so the winner sees what the claimer wrote.
    if (status_.compare_exchange_weak(s, final_status, std::memory_order_acq_rel, std::memory_order_acquire)) {
      from = s;
      return true;
    }
  }
  return false;
}

bool TaskState::finish(TaskStatus final_status, std::exception_ptr error) {
  TaskStatus from;
  if (!try_finalize(final_status, from)) return false;
  error_ = std::move(error);
  end_ns_.store(now_ns(), std::memory_order_relaxed);
  // A thread that must not run user callbacks (the watchdog, a foreign
  // completer) hands the tail to the host; the task is final already, so no
  // claim can start its body meanwhile.
  if (host_ && !host_->finishes_on_this_thread()) {
    host_->finish_elsewhere(*this, from);
  } else {
    run_tail(from);
  }
  return true;
}

void TaskState::run_tail(TaskStatus from) {
  assert(is_final(status()) && !done());
  // Recorded (and the failure hook run) before anyone is released.
  if (host_) host_->on_task_finished(*this, from);
  // No add_ref/release pair around the wake (two locked RMWs per task): a
  // released waiter may drop its handle, but every caller of run_tail holds
  // a reference of its own until it returns (the queue entry in
  // run_from_queue, the handle in wait()/cancel(), the root coroutine's
  // reference, the host's reference in finish_elsewhere, the C ABI's
  // completion functions' own reference: a native completer's pointer is
  // borrowed), so `this` stays
  // alive through on_final() and the settle.
  release_waiters();
  on_final();
  if (host_) host_->on_task_settled();
}

void TaskState::release_waiters() {
  std::uint32_t old = done_word_.fetch_or(1u, std::memory_order_acq_rel);
  if ((old >> 1) != 0) futex_wake_all(done_word_);
  AwaitNode* node = awaiters_.exchange(&g_done_sentinel, std::memory_order_acq_rel);
  while (node && node != &g_done_sentinel) {
    AwaitNode* next = node->next;  // read first: resuming may free the node
    if (node->notify) {
      node->notify(node);
    } else if (node->resume_on) {
      node->resume_on->schedule(WorkItem::coroutine(node->continuation));
    } else {
      node->continuation.resume();
    }
    node = next;
  }
}

bool TaskState::add_awaiter(AwaitNode* node) noexcept {
  AwaitNode* head = awaiters_.load(std::memory_order_acquire);
  do {
    if (head == &g_done_sentinel) return false;
    node->next = head;
  } while (!awaiters_.compare_exchange_weak(head, node, std::memory_order_release, std::memory_order_acquire));
  return true;
}

bool TaskState::run_inline_if_queued() {
  Executor* here = Executor::current();
  // Only a worker of the task's own pool: the body must run where it was
  // meant to (a task submitted to the I/O pool never runs on a compute
  // worker). This is what makes deep nested get() on one thread work.
  if (!here || here != executor_ || !try_claim()) return false;
  execute();
  return true;
}

bool TaskState::run_on_caller() {
  if (!try_claim()) return false;
  // A slot of the host's own, so that progress and the watchdog see what
  // runs here (this thread has no worker slot); none free: it runs unseen.
  WorkerSlot* slot = host_ ? host_->claim_caller_slot() : nullptr;
  execute_in(slot, /*slot_shared_with_outer=*/false);
  if (slot) host_->return_caller_slot(slot);
  return true;
}

void TaskState::wait() {
  if (done()) return;
  if (run_inline_if_queued() && done()) return;
  block_until_done(std::nullopt);
}

bool TaskState::wait_for(std::chrono::nanoseconds timeout) {
  if (done()) return true;
  // Still queued and we are a worker of its pool: running it now is the only
  // way it runs soon (every other worker may be waiting too), whatever the
  // timeout; the result is there when it returns.
  if (run_inline_if_queued() && done()) return true;
  if (timeout.count() <= 0) return done();
  return block_until_done(std::chrono::steady_clock::now() + timeout);
}

bool TaskState::block_until_done(std::optional<std::chrono::steady_clock::time_point> deadline) {
  for (int i = 0; i < kWaitSpinRounds; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  ThreadRole::DeferredWork* deferred = ThreadRole::deferred_work();
  Executor::BlockingScope blocking;
  WaitingOnScope waiting_on(Executor::current_slot(), id_);  // for task dumps
  done_word_.fetch_add(2u, std::memory_order_acq_rel);
  for (;;) {
    std::uint32_t w = done_word_.load(std::memory_order_acquire);
    if (w & 1u) break;
    std::optional<std::chrono::nanoseconds> left;
    if (deadline) {
      left = *deadline - std::chrono::steady_clock::now();
      if (left->count() <= 0) break;
    }
    if (deferred) {
      // The callback thread: what we wait for may be queued behind us.
      while (!done() && deferred->run_one()) {}
      if (done()) break;
      std::chrono::nanoseconds slice = kCallbackThreadSlice;
      if (left && *left < slice) slice = *left;
      futex_wait_for(done_word_, w, slice);
    } else if (left) {
      futex_wait_for(done_word_, w, *left);
    } else {
      futex_wait(done_word_, w);
    }
  }
  done_word_.fetch_sub(2u, std::memory_order_relaxed);
  return done();
}

bool TaskState::cancel() {
  TaskStatus expected = TaskStatus::queued;
  if (status_.compare_exchange_strong(expected, TaskStatus::cancelled, std::memory_order_acq_rel)) {
    request_cancel();
    error_ = std::make_exception_ptr(TaskCancelledError(name()));
    end_ns_.store(now_ns(), std::memory_order_relaxed);
    // The tail runs here even off the pools: cancelling is the caller's own
    // act, and a cancelled task has no failure callback.
    run_tail(TaskStatus::queued);
    return true;
  }
  if (!is_final(expected)) request_cancel();
  return false;
}

namespace detail {
void retain_owner(TaskState* owner) noexcept { owner->add_ref(); }
void release_owner(TaskState* owner) noexcept { owner->release(); }
}  // namespace detail

namespace this_task {
TaskState* current() noexcept { return tls_current_task; }
bool cancelled() noexcept { return tls_current_task && tls_current_task->cancel_requested(); }
void report_progress(std::uint64_t completed, std::uint64_t total) noexcept {
  if (!tls_current_task) return;
  tls_current_task->set_total_subtasks(total);
  tls_current_task->set_completed_subtasks(completed);
}
}  // namespace this_task

}  // namespace dftracer::utils
