// Executor: a pool of worker threads that run WorkItems by work stealing.
//
// Each worker owns a Chase-Lev deque: work pushed by a worker goes to its own
// deque (LIFO for the owner, stolen FIFO by others); work from any other
// thread goes to the shared injection queue. An idle worker searches (steals
// from random victims, polls the injection queue) for a bounded number of
// rounds, then parks on a futex; IdleCoordinator decides who wakes.
//
// Blocking: a worker about to block in a wait calls BlockingScope, which
// starts a temporary worker when fewer than `threads` workers
// would be left running. Temporary workers retire when they find no work and are
// surplus. The watchdog starts them too, on starvation.
//
// Starting: a thread the system refuses is a ThreadStartError from the
// constructor (the threads already started are stopped first) and, for a
// temporary worker, a count (temporary_worker_start_failures); never std::terminate.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/core/detail/chase_lev_deque.hpp"
#include "dftracer/utils/core/detail/idle_coordinator.hpp"
#include "dftracer/utils/core/detail/injection_queue.hpp"
#include "dftracer/utils/core/detail/work_item.hpp"
#include "dftracer/utils/core/detail/worker_slot.hpp"
#include "dftracer/utils/core/task_status.hpp"

namespace dftracer::utils {

// Resolves a requested thread count: 0 means DFTRACER_UTILS_THREADS if set,
// else the hardware concurrency.
std::size_t resolve_thread_count(std::size_t requested);

struct ExecutorOptions {
  std::size_t threads = 0;                  // 0: resolve_thread_count(0)
  std::size_t max_temporary_workers = 256;  // RuntimeOptions passes its own (runtime_defaults.hpp)
  std::string name = "compute";
  // Opaque back pointer for the owner (the Runtime), see Executor::owner().
  void* owner = nullptr;
  // Called on each worker thread just before it exits (e.g. to drop a Python
  // thread state). Must not throw.
  std::function<void()> on_worker_exit;
  // Called on a worker that finds itself in a child process: a task forked
  // and the child returned from it to the worker loop. The child must not
  // run the parent's queued work; this ends the child process (default:
  // flush stdio, _exit(0), as a forking non-main thread ending would).
  // Must not return.
  std::function<void()> on_forked_child;
};

class Executor {
 public:
  explicit Executor(ExecutorOptions options);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  // Stops (if not yet) and joins every thread.
  ~Executor();

  // From a worker of this executor: its own deque. From anywhere else: the
  // injection queue, with a wake-up.
  void schedule(WorkItem item);
  // Always the injection queue (fairness: yield_now, hops between pools).
  void schedule_external(WorkItem item);

  // Lets workers drain what is queued, then stops and joins them. Idempotent.
  void stop();

  std::size_t threads() const noexcept { return threads_; }
  const std::string& name() const noexcept { return options_.name; }
  void* owner() const noexcept { return options_.owner; }

  // The executor whose worker is the calling thread, or null.
  static Executor* current() noexcept;
  // Index of the calling worker in current(), or -1.
  static int current_worker_index() noexcept;
  // The calling worker's slot, or null off the pool.
  static WorkerSlot* current_slot() noexcept;
  // Join fast path (fork_join.hpp): takes `item` back if it is still the
  // bottom item of the calling worker's own deque (nobody stole it). False
  // off the pools, or when the item was stolen or is not at the bottom.
  static bool try_take_local(WorkItem item) noexcept;

  // RAII: marks the calling worker (of whichever executor) as blocked for
  // its lifetime, adding a temporary worker if needed. No-op off the pools.
  class BlockingScope {
   public:
    BlockingScope() noexcept;
    ~BlockingScope();
    BlockingScope(const BlockingScope&) = delete;
    BlockingScope& operator=(const BlockingScope&) = delete;

   private:
    Executor* ex_;
    WorkerActivity previous_ = WorkerActivity::running;
  };

  // Observation (progress, watchdog, tests).
  struct WorkerView {
    std::uint32_t index;
    bool temporary;
    WorkerActivity activity;
    std::uint64_t task_id;
    std::string task_name;  // as published: empty for an automatic name
    bool name_known;        // false when the name could not be read
    // The name to show: as given, "task-<id>" for an automatic one, empty
    // when no task runs or the name could not be read.
    std::string display_name() const {
      return task_id != 0 && name_known ? display_task_name(task_id, task_name) : std::string();
    }
    std::int64_t task_since_ns;
    std::uint64_t tasks_run;
    std::size_t queue_depth;
    std::uint64_t waiting_on = 0;  // the task it is blocked on (WaitingOnScope); 0: none visible
  };
  std::vector<WorkerView> workers_view() const;
  std::size_t queued_hint() const noexcept;  // injection + every deque
  // Workers running a submitted task's body right now (including blocked
  // ones): what a drain waits for besides the active count.
  std::size_t tasks_running() const noexcept;
  std::size_t live_threads() const noexcept;
  std::size_t blocked_workers() const noexcept;
  // Starts a temporary worker (the watchdog does, on starvation); it retires
  // once idle and surplus. False when stopping or every temporary slot is taken (max_temporary_workers).
  bool add_temporary_worker();
  // Temporary workers alive now.
  std::size_t temporary_workers_live() const noexcept;
  std::size_t temporary_workers_started() const noexcept { return temporary_started_.load(std::memory_order_relaxed); }
  // Spares the system refused to start (thread limits).
  std::size_t temporary_worker_start_failures() const noexcept {
    return temporary_start_failures_.load(std::memory_order_relaxed);
  }
  IdleCoordinator& idle() noexcept { return idle_; }

 private:
  struct Worker;

  void worker_main(Worker& w);
  WorkItem find_local_or_global(Worker& w);
  WorkItem steal_or_global(Worker& w);
  WorkItem take_global_batch(Worker& w);
  bool has_pending_work() const noexcept;
  void run_item(Worker& w, WorkItem item);
  // Returns false when the worker must exit (stop, or a temporary worker retiring).
  bool park(Worker& w, bool& searching);
  void begin_blocking();
  void end_blocking();
  bool start_temporary_worker();
  bool try_retire_temporary_worker();
  void start_worker(Worker& w);

  ExecutorOptions options_;
  std::size_t threads_;
  std::size_t capacity_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::uint32_t> high_water_{0};  // slots ever used: thieves scan [0, high_water_)
  InjectionQueue injection_;
  IdleCoordinator idle_;
  // Packed live threads (high 32 bits) and blocked workers (low 32), so the
  // "enough unblocked workers" rule is checked on one consistent snapshot.
  std::atomic<std::uint64_t> live_and_blocked_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> temporary_started_{0};
  std::atomic<std::size_t> temporary_start_failures_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint32_t> schedulers_inside_{0};  // threads inside schedule_external
  std::uint64_t fork_generation_;                    // the process generation we were made in (see worker_main)
  std::mutex temporary_mu_;                          // serialises slot reuse and thread start/join of temporary workers
};

}  // namespace dftracer::utils
