// Runtime lifecycle: submit, wait_all, shutdown (see runtime.hpp).
#include "dftracer/utils/core/runtime.hpp"

#include <stdexcept>
#include <vector>

#include "dftracer/utils/core/forced_unwind.hpp"
#include "dftracer/utils/core/futex.hpp"

namespace dftracer::utils {

Runtime::Runtime(RuntimeOptions options)
    : options_(std::move(options)), pending_limit_(options_.max_pending), registry_(options_.registry) {
  ExecutorOptions compute;
  compute.threads = options_.threads;
  compute.max_spare_threads = options_.max_spare_threads;
  compute.name = "compute";
  compute.owner = this;
  compute.on_worker_exit = options_.on_worker_exit;
  compute_ = std::make_unique<Executor>(compute);

  ExecutorOptions io;
  io.threads = options_.io_threads ? options_.io_threads : compute_->threads();
  io.max_spare_threads = options_.max_spare_threads;
  io.name = "io";
  io.owner = this;
  io.on_worker_exit = options_.on_worker_exit;
  io_ = std::make_unique<Executor>(io);

  if (options_.watchdog.interval.count() > 0) watchdog_ = std::make_unique<Watchdog>(*this, options_.watchdog);
}

void Runtime::set_timeout(std::chrono::nanoseconds timeout) {
  if (watchdog_) watchdog_->set_global_timeout(timeout);
}

bool Runtime::is_responsive() const noexcept {
  if (is_shut_down()) return false;
  return watchdog_ ? watchdog_->responsive() : true;
}

Runtime::~Runtime() {
  try {
    shutdown(false);
  } catch (...) {
    // Destroyed from one of its own workers: nothing safe is left to do but
    // let the executors' destructors refuse as well.
  }
}

Runtime* Runtime::current() noexcept {
  Executor* ex = Executor::current();
  return ex ? static_cast<Runtime*>(ex->owner()) : nullptr;
}

void Runtime::submit_state(TaskState& state, Pool pool, Admission admission) {
  if (admission == Admission::wait) pending_limit_.admit(pending_limit_.enabled() && current() == this);
  // Count first, then check: shutdown() closes, then waits for active_ to
  // drain, so either it sees our count and waits for us, or we see it closed.
  active_.fetch_add(1, std::memory_order_seq_cst);
  bool refused = closed_.load(std::memory_order_seq_cst) ||
                 (!accepting_external_.load(std::memory_order_seq_cst) && current() != this);
  if (refused) {
    settle_one();
    throw RuntimeShutdownError();
  }
  state.id_ = next_id_.fetch_add(1, std::memory_order_relaxed);
  state.runtime_ = this;
  Executor& target = pool == Pool::io ? *io_ : *compute_;
  state.executor_ = &target;
  state.submit_ns_ = now_ns();
  registry_.on_submitted(state);
  state.add_ref();  // the queue entry's reference
  target.schedule(WorkItem::task(&state));
  if (watchdog_) watchdog_->wake_if_idle();
}

void Runtime::task_finished(TaskState& task) {
  if (task.deadline_ns() != 0 && watchdog_) watchdog_->untrack_deadline(task);
  registry_.on_finished(task);
  TaskStatus s = task.status();
  if (s != TaskStatus::failed && s != TaskStatus::timed_out) return;
  std::shared_ptr<FailureHook> hook;
  {
    std::lock_guard lock(hook_mu_);
    hook = failure_hook_;
  }
  if (hook && *hook) {
    try {
      (*hook)(task);
    } DFTRACER_RETHROW_FORCED_UNWIND catch (...) {
      // A hook must not throw; never let it take a worker down.
    }
  }
}

void Runtime::task_settled() noexcept { settle_one(); }

void Runtime::settle_one() noexcept {
  pending_limit_.release();
  if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1) {
    idle_epoch_.fetch_add(1, std::memory_order_seq_cst);
    // Skip the syscall when nobody waits (the common case between batches).
    if (wait_all_waiters_.load(std::memory_order_seq_cst) != 0) futex_wake_all(idle_epoch_);
  }
}

void Runtime::wait_all() {
  if (current() == this) {
    throw std::logic_error("wait_all() called from inside one of this runtime's tasks would wait for itself");
  }
  if (active_.load(std::memory_order_seq_cst) == 0) return;
  wait_all_waiters_.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    std::uint32_t epoch = idle_epoch_.load(std::memory_order_seq_cst);
    if (active_.load(std::memory_order_seq_cst) == 0) break;
    futex_wait(idle_epoch_, epoch);
  }
  wait_all_waiters_.fetch_sub(1, std::memory_order_seq_cst);
}

bool Runtime::wait_all_for(std::chrono::nanoseconds timeout) {
  if (current() == this) {
    throw std::logic_error("wait_all() called from inside one of this runtime's tasks would wait for itself");
  }
  if (active_.load(std::memory_order_seq_cst) == 0) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  wait_all_waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool drained = false;
  for (;;) {
    std::uint32_t epoch = idle_epoch_.load(std::memory_order_seq_cst);
    if (active_.load(std::memory_order_seq_cst) == 0) {
      drained = true;
      break;
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left.count() <= 0) break;
    futex_wait_for(idle_epoch_, epoch, left);
  }
  wait_all_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return drained;
}

void Runtime::shutdown(bool wait) {
  if (current() == this) {
    throw std::logic_error("shutdown() called from inside one of this runtime's tasks would wait for itself");
  }
  std::lock_guard lock(shutdown_mu_);
  if (shut_down_.load(std::memory_order_acquire)) return;
  accepting_external_.store(false, std::memory_order_seq_cst);
  if (!wait) {
    closed_.store(true, std::memory_order_seq_cst);
    // Queued tasks first, then ask running ones to stop: a running task that
    // stops frees its worker, which would run queued tasks before one pass
    // over the list reached them.
    std::vector<TaskStateRef> live = registry_.live_tasks();
    for (auto& t : live) {
      if (t->status() == TaskStatus::queued) t->cancel();
    }
    for (auto& t : live) t->cancel();  // running: sets the cooperative token
  }
  wait_all();
  closed_.store(true, std::memory_order_seq_cst);
  wait_all();
  if (watchdog_) watchdog_->stop();
  compute_->stop();
  io_->stop();
  shut_down_.store(true, std::memory_order_release);
}

void Runtime::set_failure_hook(FailureHook hook) {
  auto p = hook ? std::make_shared<FailureHook>(std::move(hook)) : nullptr;
  std::lock_guard lock(hook_mu_);
  failure_hook_ = std::move(p);
}

}  // namespace dftracer::utils
