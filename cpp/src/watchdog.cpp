// The watchdog thread (see watchdog.hpp).
#include "dftracer/utils/core/watchdog.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "dftracer/utils/core/detail/thread_role.hpp"
#include "dftracer/utils/core/detail/thread_start.hpp"
#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils {

namespace {
// Reported long-running ids are forgotten past this many (they are only
// there to report each task once; a repeat after that is harmless).
constexpr std::size_t kMaxReportedLong = 4096;

std::string format_seconds(std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string format_duration(std::int64_t ns) {
  char buf[32];
  if (ns < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.0f ms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ns) / 1e9);
  }
  return buf;
}
}  // namespace

Watchdog::Watchdog(Runtime& runtime, WatchdogOptions options) : runtime_(runtime), options_(options) {
  last_progress_ns_ = now_ns();
  if (options_.interval.count() > 0) {
    try {
      thread_ = start_runtime_thread([this] {
        ThreadRole::Scope role(ThreadRole::Kind::watchdog, &runtime_);
        run();
      });
    } catch (const std::system_error& e) {
      throw ThreadStartError(describe_thread_start_failure("watchdog", 0, 1, e));
    }
  }
}

Watchdog::~Watchdog() {
  stop();
  std::lock_guard lock(deadlines_mu_);
  for (TaskState* t : with_deadline_) t->release();
  with_deadline_.clear();
}

void Watchdog::track_deadline(TaskState& task) {
  task.add_ref();
  std::lock_guard lock(deadlines_mu_);
  if (!with_deadline_.insert(&task).second) task.release();
}

void Watchdog::untrack_deadline(TaskState& task) noexcept {
  bool was_tracked;
  {
    std::lock_guard lock(deadlines_mu_);
    was_tracked = with_deadline_.erase(&task) != 0;
  }
  // The caller (finish) holds its own reference, so this is never the last.
  if (was_tracked) task.release();
}

void Watchdog::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Watchdog::set_hooks(Hooks hooks) {
  std::lock_guard lock(mu_);
  hooks_ = std::move(hooks);
}

void Watchdog::set_global_timeout(std::chrono::nanoseconds timeout) {
  if (timeout.count() <= 0) {
    global_timeout_ns_.store(0, std::memory_order_relaxed);
    global_deadline_ns_.store(0, std::memory_order_release);
    global_expired_.store(false, std::memory_order_release);
  } else {
    global_timeout_ns_.store(timeout.count(), std::memory_order_relaxed);
    global_deadline_ns_.store(now_ns() + timeout.count(), std::memory_order_release);
    global_expired_.store(false, std::memory_order_release);
  }
  wake();
}

void Watchdog::wake() noexcept {
  {
    std::lock_guard lock(mu_);
    wake_pending_ = true;
  }
  cv_.notify_one();
}

void Watchdog::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    bool idle = runtime_.active() == 0 && global_deadline_ns_.load(std::memory_order_acquire) == 0;
    if (idle) {
      // Nothing to watch: sleep until submit or a setting wakes us.
      responsive_.store(!runtime_.is_shut_down(), std::memory_order_release);
      stalled_.store(false, std::memory_order_release);
      idle_.store(true, std::memory_order_seq_cst);
      // A submit between our active() check and here: its wake_if_idle may
      // have read idle_ false and skipped the wake. Re-check under the lock
      // (that submit counted itself in active() before looking at idle_).
      if (runtime_.active() == 0) cv_.wait(lock, [&] { return stop_ || wake_pending_; });
      idle_.store(false, std::memory_order_relaxed);
      // Woken by work: resume sampling one interval from now, not at once.
      // A submit/get round trip takes the runtime in and out of idle on
      // every task; sampling on each of those wakes would tax every one.
      wake_pending_ = false;
      continue;
    }
    cv_.wait_for(lock, options_.interval, [&] { return stop_ || wake_pending_; });
    wake_pending_ = false;
    if (stop_) break;
    lock.unlock();
    sample();
    lock.lock();
  }
}

void Watchdog::time_out(TaskState& task, const std::string& why) {
  // Final at once (no claim can start the body any more); the finishing
  // steps are posted to the callback thread by the task's host, since this
  // thread does not finish tasks itself (Runtime::finishes_on_this_thread).
  if (is_final(task.status())) return;
  // On the timeline before the finish: the finish releases the task's
  // waiters, who may stop the trace at once. (A body finishing in between
  // leaves an instant for a timeout that lost the race; harmless.)
  runtime_.trace_instant("timeout", why, task.id());
  if (!task.finish_timed_out(std::make_exception_ptr(TaskTimeoutError(why)))) return;
  task.request_cancel();
  timed_out_.fetch_add(1, std::memory_order_relaxed);
  std::function<void(TaskState&)> hook;
  {
    std::lock_guard lock(mu_);
    hook = hooks_.on_timeout;
  }
  if (hook) {
    runtime_.callbacks().post([hook = std::move(hook), ref = TaskStateRef::share(&task)] { hook(*ref); });
  }
}

void Watchdog::emit(std::vector<WatchdogEvent>& events) {
  if (events.empty()) return;
  std::function<void(const std::vector<WatchdogEvent>&)> hook;
  {
    std::lock_guard lock(mu_);
    hook = hooks_.on_events;
  }
  if (hook) runtime_.callbacks().post([hook = std::move(hook), events = std::move(events)] { hook(events); });
  events.clear();
}

void Watchdog::release_elsewhere(std::vector<TaskStateRef>& refs) {
  if (refs.empty()) return;
  runtime_.callbacks().post([refs = std::move(refs)] {});
  refs.clear();
}

void Watchdog::sample() {
  samples_.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = now_ns();
  std::vector<WatchdogEvent> events;

  // 1. Global timeout: once passed, every live task times out, now and on
  //    every later sample (work submitted afterwards too).
  std::int64_t global_deadline = global_deadline_ns_.load(std::memory_order_acquire);
  if (global_deadline != 0 && now >= global_deadline) {
    if (!global_expired_.exchange(true, std::memory_order_acq_rel)) {
      events.push_back({WatchdogEvent::Level::warning, "runtime timeout of " +
                                                           format_duration(global_timeout_ns_.load()) +
                                                           " passed: timing out every queued and running task"});
      runtime_.trace_instant("global timeout", events.back().message);
    }
    std::vector<TaskStateRef> live = runtime_.registry().live_tasks();
    for (TaskStateRef& t : live) {
      time_out(*t, "task '" + t->name() + "' stopped: the runtime timeout of " +
                       format_duration(global_timeout_ns_.load()) + " passed");
    }
    release_elsewhere(live);
  }

  // 2. Per-task deadlines, from the tracked set (see track_deadline).
  std::vector<TaskStateRef> with_deadline;
  {
    std::lock_guard lock(deadlines_mu_);
    with_deadline.reserve(with_deadline_.size());
    for (TaskState* t : with_deadline_) with_deadline.push_back(TaskStateRef::share(t));
  }
  for (TaskStateRef& task : with_deadline) {
    std::int64_t deadline = task->deadline_ns();
    if (deadline != 0 && now >= deadline && !task->done()) {
      time_out(*task,
               "task '" + task->name() + "' exceeded its timeout of " + format_duration(deadline - task->start_ns()));
    }
  }
  release_elsewhere(with_deadline);

  // 3. Long runners, from what the workers (and threads running tasks they
  //    wait for) publish: no task reference is taken.
  std::vector<std::string> long_runners;
  const std::int64_t long_ns = std::chrono::nanoseconds(options_.long_task_threshold).count();
  auto consider = [&](std::uint64_t id, const std::string& name, std::int64_t since) {
    if (id == 0 || since == 0) return;
    std::int64_t ran = now - since;
    if (ran < long_ns || !reported_long_.insert(id).second) return;
    // Appended piecewise: "'" + std::string&& trips a GCC 12 -Wrestrict
    // false positive.
    std::string entry = "'";
    entry += name;
    entry += "' (id " + std::to_string(id) + ", " + format_seconds(ran) + ")";
    long_runners.push_back(std::move(entry));
  };
  for (Executor* ex : {&runtime_.compute(), &runtime_.io()}) {
    for (const auto& w : ex->workers_view())
      consider(w.task_id, display_task_name(w.task_id, w.task_name), w.task_since_ns);
  }
  for (const auto& c : runtime_.callers_view()) consider(c.task_id, c.task_name, c.task_since_ns);
  if (reported_long_.size() > kMaxReportedLong) reported_long_.clear();
  if (!long_runners.empty()) {
    std::string msg = std::to_string(long_runners.size()) + " task(s) running longer than " +
                      format_duration(std::chrono::nanoseconds(options_.long_task_threshold).count()) + ": ";
    for (std::size_t i = 0; i < long_runners.size(); ++i) msg += (i ? ", " : "") + long_runners[i];
    events.push_back({WatchdogEvent::Level::warning, std::move(msg), /*with_dump=*/true});
    runtime_.trace_instant("long task", events.back().message);
  }

  // 4. Stall: work queued and nothing finishing for stall_threshold.
  RegistryTotals totals = runtime_.registry().totals();
  std::uint64_t finished = totals.completed + totals.failed + totals.cancelled + totals.timed_out;
  if (finished != last_finished_) {
    last_finished_ = finished;
    last_progress_ns_ = now;
  }
  bool work_waiting = totals.queued > 0;
  bool stalled = work_waiting && now - last_progress_ns_ >= std::chrono::nanoseconds(options_.stall_threshold).count();
  if (stalled && !stalled_.load()) {
    events.push_back({WatchdogEvent::Level::warning,
                      "stalled: " + std::to_string(totals.queued) + " task(s) queued and none finished for " +
                          format_duration(now - last_progress_ns_),
                      /*with_dump=*/true});
    runtime_.trace_instant("stall", events.back().message);
  } else if (!stalled && stalled_.load()) {
    events.push_back({WatchdogEvent::Level::info, "work is flowing again"});
    runtime_.trace_instant("flowing again", events.back().message);
  }
  stalled_.store(stalled, std::memory_order_release);

  // 5. Starvation: every compute worker blocked or stuck in one task while
  //    work waits in the compute pool.
  Executor& compute = runtime_.compute();
  bool starving = compute.queued_hint() > 0;
  std::size_t considered = 0;
  if (starving) {
    const std::int64_t stuck_ns = std::chrono::nanoseconds(options_.starvation_threshold).count();
    for (const auto& w : compute.workers_view()) {
      ++considered;
      bool stuck = w.activity == WorkerActivity::blocked ||
                   (w.activity == WorkerActivity::running && w.task_id != 0 && now - w.task_since_ns >= stuck_ns);
      if (!stuck) {
        starving = false;
        break;
      }
    }
  }
  if (starving && considered > 0) {
    if (starving_since_ns_ == 0) starving_since_ns_ = now;
    std::size_t temporaries = compute.temporary_workers_live();
    // Counted before the worker starts: starting a thread happens-before its
    // first step, so whoever sees the work it does (through a handle's
    // acquire) also sees the count. Undone when none could start (every
    // temporary slot taken: max_temporary_workers, or the system refused).
    temporary_added_.fetch_add(1, std::memory_order_relaxed);
    if (compute.add_temporary_worker()) {
      events.push_back({WatchdogEvent::Level::warning,
                        "starvation: all " + std::to_string(considered) +
                            " compute worker(s) blocked or busy for over " +
                            format_duration(std::chrono::nanoseconds(options_.starvation_threshold).count()) +
                            " with " + std::to_string(compute.queued_hint()) +
                            " item(s) waiting; added a temporary worker (" + std::to_string(temporaries + 1) + " live)",
                        /*with_dump=*/true});
      runtime_.trace_instant("starvation: temporary worker added", events.back().message);
    } else {
      temporary_added_.fetch_sub(1, std::memory_order_relaxed);
    }
  } else {
    starving_since_ns_ = 0;
  }
  std::size_t temporaries_now = compute.temporary_workers_live();
  if (temporaries_now < last_temporary_live_) {
    events.push_back({WatchdogEvent::Level::info, "retired " + std::to_string(last_temporary_live_ - temporaries_now) +
                                                      " temporary worker(s); " + std::to_string(temporaries_now) +
                                                      " left"});
    runtime_.trace_instant("temporary workers retired", events.back().message);
  }
  last_temporary_live_ = temporaries_now;

  responsive_.store(!stalled && !global_expired_.load() && !runtime_.is_shut_down(), std::memory_order_release);
  emit(events);
}

}  // namespace dftracer::utils
