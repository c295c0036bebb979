// Watchdog: one thread that samples the runtime so it never hangs silently.
//
// Every `interval` it reads each worker's slot and the registry totals, and
//  - times out running tasks past their deadline (per-task default timeout)
//    and every live task once the global deadline has passed: the handle
//    completes with TaskTimeoutError at once, the body is asked to stop;
//  - detects a stall (work queued, nothing finishing for `stall_threshold`);
//  - detects starvation (every compute worker blocked, or busy with one task
//    for longer than `starvation_threshold`, while work waits) and adds a
//    temporary worker (up to the pool's max_temporary_workers);
//  - reports each task running longer than `long_task_threshold` once.
// It sleeps on a condition variable: with nothing live and no deadline set
// it sleeps until woken (an idle runtime costs no CPU). Workers never call
// into it on their hot paths; they only publish their slots.
//
// It never runs user code, nor anything that could wait: the finishing steps
// of a task it times out (which run the error callback), its reports and its
// interrupts go to the runtime's callback thread, and so do the references it
// held, so that a task's last reference (and a Python object's __del__) is
// never dropped here. A callback that waits, shuts down or drops the runtime
// therefore cannot deadlock the watchdog, and later timeouts still fire.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "dftracer/utils/core/runtime_defaults.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

class Runtime;

struct WatchdogOptions {
  std::chrono::milliseconds interval = defaults::kWatchdogInterval;  // 0: no watchdog thread at all
  std::chrono::milliseconds stall_threshold = defaults::kStallThreshold;
  std::chrono::milliseconds starvation_threshold = defaults::kStarvationThreshold;
  std::chrono::milliseconds long_task_threshold = defaults::kLongTaskThreshold;
};

// Something the watchdog wants said; the host decides how (Python logging).
struct WatchdogEvent {
  enum class Level { info, warning } level;
  std::string message;
  // A stall, starvation or long task: the host logs a task dump with it
  // (Runtime::dump_tasks, plus the Python stacks in the bindings).
  bool with_dump = false;
};

class Watchdog {
 public:
  // Hooks run on the runtime's callback thread, outside any runtime lock;
  // they must not throw. `on_timeout` runs after the timed-out task's
  // finishing steps (the Python binding raises TaskTimeoutError inside the
  // running callable).
  struct Hooks {
    std::function<void(TaskState&)> on_timeout;
    std::function<void(const std::vector<WatchdogEvent>&)> on_events;
  };

  Watchdog(Runtime& runtime, WatchdogOptions options);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void set_hooks(Hooks hooks);
  // 0 disables. The global deadline counts from this call.
  void set_global_timeout(std::chrono::nanoseconds timeout);
  // Wakes the thread for an immediate sample (new work, new settings).
  void wake() noexcept;
  // For submit: wakes the thread only when it sleeps with nothing to watch
  // (one relaxed load otherwise, so the submit path stays cheap).
  void wake_if_idle() noexcept {
    // seq_cst: the submitter counted itself in active() (seq_cst) before
    // this load; the watchdog sets idle_ (seq_cst) before re-reading
    // active(). One of the two sees the other.
    if (idle_.load(std::memory_order_seq_cst)) wake();
  }
  void stop();

  bool responsive() const noexcept { return responsive_.load(std::memory_order_acquire); }
  bool stalled() const noexcept { return stalled_.load(std::memory_order_acquire); }
  bool global_timeout_expired() const noexcept { return global_expired_.load(std::memory_order_acquire); }
  bool global_timeout_set() const noexcept { return global_deadline_ns_.load(std::memory_order_relaxed) != 0; }
  std::uint64_t temporary_workers_added() const noexcept { return temporary_added_.load(); }
  std::uint64_t tasks_timed_out() const noexcept { return timed_out_.load(); }
  std::uint64_t samples() const noexcept { return samples_.load(); }
  const WatchdogOptions& options() const noexcept { return options_; }

  // One sampling pass (the thread calls it; tests may too).
  void sample();

  // Tasks that started with a deadline, tracked until they finish: the
  // watchdog checks these rather than the worker slots, because a slot only
  // shows the task running there now (not a coroutine task between
  // resumptions, nor an outer task while a waited-on one runs inline).
  void track_deadline(TaskState& task);
  void untrack_deadline(TaskState& task) noexcept;

 private:
  void run();
  void time_out(TaskState& task, const std::string& why);
  void emit(std::vector<WatchdogEvent>& events);
  // Drops `refs` on the callback thread (see the top of this file).
  void release_elsewhere(std::vector<TaskStateRef>& refs);

  Runtime& runtime_;
  WatchdogOptions options_;

  std::mutex mu_;  // guards stop_, wake_pending_, hooks_, the cv
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_pending_ = false;
  Hooks hooks_;

  std::mutex deadlines_mu_;
  std::unordered_set<TaskState*> with_deadline_;  // each holds one reference
  std::atomic<std::int64_t> global_deadline_ns_{0};
  std::atomic<std::int64_t> global_timeout_ns_{0};

  // Sampler state (watchdog thread only).
  std::uint64_t last_finished_ = 0;
  std::int64_t last_progress_ns_ = 0;
  std::int64_t starving_since_ns_ = 0;
  std::size_t last_temporary_live_ = 0;
  std::unordered_set<std::uint64_t> reported_long_;

  std::atomic<bool> idle_{false};  // sleeping until woken
  std::atomic<bool> responsive_{true};
  std::atomic<bool> stalled_{false};
  std::atomic<bool> global_expired_{false};
  std::atomic<std::uint64_t> temporary_added_{0};
  std::atomic<std::uint64_t> timed_out_{0};
  std::atomic<std::uint64_t> samples_{0};

  std::thread thread_;  // last: started after everything above exists
};

}  // namespace dftracer::utils
