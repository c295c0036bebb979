// Runtime lifecycle: submit, wait_all, shutdown, and the TaskHost side (see
// runtime.hpp).
#include "dftracer/utils/core/runtime.hpp"

#include <stdexcept>
#include <vector>

#include "dftracer/utils/core/detail/forced_unwind.hpp"
#include "dftracer/utils/core/detail/thread_role.hpp"
#include "dftracer/utils/core/detail/thread_start.hpp"
#include "dftracer/utils/core/tracer.hpp"

namespace dftracer::utils {

Runtime::Runtime(RuntimeOptions options)
    : options_(std::move(options)), pending_limit_(options_.max_pending), registry_(options_.registry) {
  check_pool_size("threads", options_.threads);
  check_pool_size("io_threads", options_.io_threads);
  check_pool_size("max_temporary_workers", options_.max_temporary_workers);
  // A failure below unwinds through the members built so far: each stops
  // and joins its own threads, so nothing is left running.
  callbacks_ = std::make_unique<CallbackThread>(this, options_.on_worker_exit);

  ExecutorOptions compute;
  compute.threads = options_.threads;
  compute.max_temporary_workers = options_.max_temporary_workers;
  compute.name = "compute";
  compute.owner = this;
  compute.on_worker_exit = options_.on_worker_exit;
  compute.on_forked_child = options_.on_forked_child;
  compute_ = std::make_unique<Executor>(compute);

  ExecutorOptions io;
  io.threads = options_.io_threads ? options_.io_threads : compute_->threads();
  io.max_temporary_workers = options_.max_temporary_workers;
  io.name = "io";
  io.owner = this;
  io.on_worker_exit = options_.on_worker_exit;
  io.on_forked_child = options_.on_forked_child;
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
    // Destroyed from one of its own threads: nothing safe is left to do but
    // let the members' destructors refuse as well.
    return;
  }
  // A thread that settled the last task (or ended the last body) may still
  // be waking waiters inside the counters: wait for it to leave.
  active_.wait_quiet();
  bodies_.wait_quiet();
}

Runtime* Runtime::current() noexcept {
  if (Executor* ex = Executor::current()) return static_cast<Runtime*>(ex->owner());
  return static_cast<Runtime*>(const_cast<void*>(ThreadRole::owner()));
}

void Runtime::refuse_from_own_thread(const char* what) const {
  if (current() == this) {
    throw std::logic_error(std::string(what) +
                           " called from a thread of this runtime (one of its tasks or callbacks) would wait for "
                           "itself");
  }
}

void Runtime::submit_state(TaskState& state, Pool pool, Admission admission) {
  // The runtime's own threads are never made to wait (PendingLimit).
  if (admission == Admission::wait) pending_limit_.admit(pending_limit_.enabled() && current() == this);
  // Count first, then check: close() is followed by a drain, so either the
  // drain sees our count and waits for us, or we see it closed.
  active_.add();
  bool refused = closed_.load(std::memory_order_seq_cst) ||
                 (!accepting_external_.load(std::memory_order_seq_cst) && current() != this);
  if (refused) {
    if (pending_limit_.enabled()) pending_limit_.release();
    active_.remove_one();
    throw RuntimeShutdownError();
  }
  Executor& target = pool == Pool::io ? *io_ : *compute_;
  TaskState* parent = this_task::current();
  state.attach(this, &target, next_id_.fetch_add(1, std::memory_order_relaxed), now_ns(), parent ? parent->id() : 0);
  registry_.on_submitted(state);
  state.add_ref();  // the queue entry's reference
  target.schedule(WorkItem::task(&state));
  if (watchdog_) watchdog_->wake_if_idle();
}

void Runtime::on_task_started(TaskState& task, std::int64_t start_ns) noexcept {
  registry_.on_started(task);
  std::int64_t timeout = default_task_timeout_ns();
  if (timeout > 0) {
    task.set_deadline_ns(start_ns + timeout);
    if (watchdog_) watchdog_->track_deadline(task);
  }
}

void Runtime::on_task_finished(TaskState& task, TaskStatus from) {
  // acquire: pairs with start_trace's release (a plain load on x86).
  if (Tracer* t = tracer_.load(std::memory_order_acquire)) t->record_task(task, from);
  if (task.deadline_ns() != 0 && watchdog_) watchdog_->untrack_deadline(task);
  registry_.on_finished(task, from);
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
    } catch (const detail::ForcedUnwind&) {
      throw;
    } catch (...) {
      // A hook must not throw; never let it take a worker down.
    }
  }
}

bool Runtime::finishes_on_this_thread() const noexcept {
  if (Executor* ex = Executor::current()) return ex->owner() == this;
  return ThreadRole::kind() == ThreadRole::Kind::callback && ThreadRole::owner() == this;
}

void Runtime::finish_elsewhere(TaskState& task, TaskStatus from) {
  // The task stays active (wait_all waits) until its tail has run there.
  // Traced, a body finishing itself here (caller runs, a foreign thread)
  // keeps its lane: the tail records the task on the callback thread.
  if (Tracer* t = tracer_.load(std::memory_order_acquire); t && this_task::current() == &task) {
    callbacks_->post([ref = TaskStateRef::share(&task), from, lane = t->lane_of_this_thread()] {
      Tracer::LaneScope scope(lane);
      ref->run_tail(from);
    });
    return;
  }
  callbacks_->post([ref = TaskStateRef::share(&task), from] { ref->run_tail(from); });
}

WorkerSlot* Runtime::claim_caller_slot() noexcept {
  for (std::size_t i = 0; i < kCallerSlots; ++i) {
    bool expected = false;
    // acquire: we see the slot as its previous user left it.
    if (!caller_slot_taken_[i].load(std::memory_order_relaxed) &&
        caller_slot_taken_[i].compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return &caller_slots_[i];
    }
  }
  return nullptr;
}

void Runtime::return_caller_slot(WorkerSlot* slot) noexcept {
  auto i = static_cast<std::size_t>(slot - caller_slots_.data());
  caller_slot_taken_[i].store(false, std::memory_order_release);
}

std::vector<Runtime::CallerView> Runtime::callers_view() const {
  std::vector<CallerView> out;
  for (std::size_t i = 0; i < kCallerSlots; ++i) {
    const WorkerSlot& s = caller_slots_[i];
    std::uint64_t id = s.task_id.load(std::memory_order_acquire);
    if (id == 0) continue;
    auto name = s.read_name();
    out.push_back({static_cast<std::uint32_t>(i), id, name ? display_task_name(id, *name) : std::string(),
                   s.task_since_ns.load(std::memory_order_relaxed)});
  }
  return out;
}

std::uint64_t Runtime::bodies_running() const noexcept {
  std::uint64_t callers = 0;
  for (const WorkerSlot& s : caller_slots_) callers += s.task_id.load(std::memory_order_acquire) != 0;
  return bodies_.count() + compute_->tasks_running() + io_->tasks_running() + callers;
}

void Runtime::wait_all() {
  refuse_from_own_thread("wait_all()");
  active_.wait_zero();
}

bool Runtime::wait_all_for(std::chrono::nanoseconds timeout) {
  refuse_from_own_thread("wait_all()");
  return active_.wait_zero_for(timeout);
}

void Runtime::close(bool everything) {
  accepting_external_.store(false, std::memory_order_seq_cst);
  if (everything) closed_.store(true, std::memory_order_seq_cst);
}

void Runtime::reopen() {
  std::lock_guard lock(shutdown_mu_);
  if (shut_down_.load(std::memory_order_acquire)) return;
  closed_.store(false, std::memory_order_seq_cst);
  accepting_external_.store(true, std::memory_order_seq_cst);
}

std::size_t Runtime::cancel_live() {
  std::vector<TaskStateRef> live = registry_.live_tasks();
  std::size_t cancelled = 0;
  for (auto& t : live) {
    if (t->status() == TaskStatus::queued && t->cancel()) ++cancelled;
  }
  for (auto& t : live) t->cancel();  // running: sets the cooperative token
  return cancelled;
}

bool Runtime::drain_for(std::chrono::nanoseconds timeout) {
  refuse_from_own_thread("shutdown()");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!active_.wait_zero_for(timeout)) return false;
  // Bodies outlive their settle only after a timeout: poll them briefly
  // rather than give every task a second counter to keep.
  for (auto pause = std::chrono::microseconds(50); bodies_running() != 0;) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(5)) pause *= 2;
  }
  return active_.count() == 0;
}

void Runtime::stop_threads() {
  // Nothing is active and no body runs: no new work can appear. The
  // watchdog first (it posts to the callback thread), then the pools, then
  // the callback thread, which runs what was posted to it.
  if (watchdog_) watchdog_->stop();
  compute_->stop();
  io_->stop();
  stop_trace();  // before the callback thread: a write error is logged there
  callbacks_->stop();
}

void Runtime::shutdown(bool wait) {
  refuse_from_own_thread("shutdown()");
  std::lock_guard lock(shutdown_mu_);
  if (shut_down_.load(std::memory_order_acquire)) return;
  close(/*everything=*/!wait);
  if (!wait) cancel_live();
  // Tasks submitted by running tasks keep arriving until those finish; a
  // pass that finds nothing active and nothing running ends it.
  while (!drain_for(std::chrono::milliseconds(50))) {
    if (!wait) cancel_live();
  }
  close(/*everything=*/true);
  drain_for(std::chrono::hours(24));
  stop_threads();
  shut_down_.store(true, std::memory_order_release);
}

void Runtime::set_failure_hook(FailureHook hook) {
  auto p = hook ? std::make_shared<FailureHook>(std::move(hook)) : nullptr;
  std::lock_guard lock(hook_mu_);
  failure_hook_ = std::move(p);
}

}  // namespace dftracer::utils
