// TaskState lifecycle: claim, execute, finish, wait, cancel (see task_state.hpp).
#include "dftracer/utils/core/task_state.hpp"

#include <chrono>
#include <optional>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/forced_unwind.hpp"
#include "dftracer/utils/core/futex.hpp"
#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils {

namespace {
thread_local TaskState* tls_current_task = nullptr;

// Marks "no more awaiters accepted": the list head once the task is done.
TaskState::AwaitNode g_done_sentinel;

// A waiter spins this many pause rounds before sleeping: a wake from a futex
// costs far more than a short spin when the task is about to finish.
constexpr int kWaitSpinRounds = 2000;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}
}  // namespace

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TaskState::TaskState(std::string name) : name_(std::move(name)) {}

std::string TaskState::automatic_name(std::uint64_t id) { return "task-" + std::to_string(id); }

TaskState::~TaskState() = default;

bool TaskState::try_claim() noexcept {
  TaskStatus expected = TaskStatus::queued;
  return status_.compare_exchange_strong(expected, TaskStatus::running, std::memory_order_acq_rel);
}

void TaskState::run_if_claimed() {
  if (try_claim()) execute();
}

void TaskState::execute() {
  std::int64_t start = now_ns();
  start_ns_.store(start, std::memory_order_relaxed);
  if (runtime_) {
    runtime_->registry().on_started(*this);
    std::int64_t timeout = runtime_->default_task_timeout_ns();
    if (timeout > 0) {
      deadline_ns_.store(start + timeout, std::memory_order_relaxed);
      if (Watchdog* dog = runtime_->watchdog()) dog->track_deadline(*this);
    }
  }

  TaskState* outer = tls_current_task;
  tls_current_task = this;
  WorkerSlot* slot = Executor::current_slot();
  if (slot) {
    slot->set_current(this);
    slot->task_id.store(id_, std::memory_order_relaxed);
    slot->task_since_ns.store(start, std::memory_order_relaxed);
    slot->publish_name(name_);  // empty for an automatic name: see workers_view
    slot->activity.store(WorkerActivity::running, std::memory_order_relaxed);
  }

  try {
    run();
  } DFTRACER_RETHROW_FORCED_UNWIND catch (...) {
    finish_failure(std::current_exception());
  }

  if (slot) {
    slot->tasks_run.fetch_add(1, std::memory_order_relaxed);
    slot->set_current(outer);
    if (outer) {  // we ran inline inside another task's wait: show it again
      slot->task_id.store(outer->id_, std::memory_order_relaxed);
      slot->task_since_ns.store(outer->start_ns(), std::memory_order_relaxed);
      slot->publish_name(outer->name_);
    } else {
      slot->task_id.store(0, std::memory_order_relaxed);
      slot->activity.store(WorkerActivity::idle, std::memory_order_relaxed);
    }
  }
  tls_current_task = outer;
}

bool TaskState::finish(TaskStatus final_status, std::exception_ptr error) {
  if (finished_.exchange(true, std::memory_order_acq_rel)) return false;
  error_ = std::move(error);
  end_ns_.store(now_ns(), std::memory_order_relaxed);
  status_.store(final_status, std::memory_order_release);
  // Recorded (and the failure hook run) before anyone is released.
  if (runtime_) runtime_->task_finished(*this);
  // No add_ref/release pair around the wake (two locked RMWs per task): a
  // released waiter may drop its handle, but every caller of finish() holds
  // a reference of its own until finish returns (the queue entry in
  // run_item, the handle in wait()/cancel(), the root coroutine's reference,
  // the watchdog's acquire_current/live_tasks references), so `this` stays
  // alive through on_final() and task_settled().
  release_waiters();
  on_final();
  if (runtime_) runtime_->task_settled();
  return true;
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
  } while (!awaiters_.compare_exchange_weak(head, node, std::memory_order_release,
                                            std::memory_order_acquire));
  return true;
}

void TaskState::wait() {
  if (done()) return;
  Executor* here = Executor::current();
  if (here && here == executor_ && try_claim()) {
    // Still queued and we are a worker of its pool: run it here instead of
    // blocking (this is what makes deep nested get() on one thread work).
    execute();
    if (done()) return;
  }
  block_until_done(std::nullopt);
}

bool TaskState::wait_for(std::chrono::nanoseconds timeout) {
  if (done()) return true;
  if (timeout.count() <= 0) return false;
  return block_until_done(std::chrono::steady_clock::now() + timeout);
}

bool TaskState::block_until_done(std::optional<std::chrono::steady_clock::time_point> deadline) {
  for (int i = 0; i < kWaitSpinRounds; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  Executor::BlockingScope blocking;
  done_word_.fetch_add(2u, std::memory_order_acq_rel);
  for (;;) {
    std::uint32_t w = done_word_.load(std::memory_order_acquire);
    if (w & 1u) break;
    if (!deadline) {
      futex_wait(done_word_, w);
      continue;
    }
    auto left = *deadline - std::chrono::steady_clock::now();
    if (left.count() <= 0) break;
    futex_wait_for(done_word_, w, left);
  }
  done_word_.fetch_sub(2u, std::memory_order_relaxed);
  return done();
}

bool TaskState::cancel() {
  TaskStatus expected = TaskStatus::queued;
  if (status_.compare_exchange_strong(expected, TaskStatus::cancelled, std::memory_order_acq_rel)) {
    request_cancel();
    finish(TaskStatus::cancelled, std::make_exception_ptr(TaskCancelledError(name())));
    return true;
  }
  if (!is_final(expected)) request_cancel();
  return false;
}

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
