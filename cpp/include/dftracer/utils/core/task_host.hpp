// TaskHost: the narrow interface a submitted task sees of whoever runs it
// (the Runtime implements it). The task calls up only through here, so the
// task layer does not depend on the runtime layer (docs/design.md, "Layers").
#pragma once

#include <cstdint>

#include "dftracer/utils/core/task_status.hpp"

namespace dftracer::utils {

class TaskState;
struct WorkerSlot;

class TaskHost {
 public:
  // The body is about to run (after a successful claim), at `start_ns`.
  virtual void on_task_started(TaskState& task, std::int64_t start_ns) noexcept = 0;
  // The task became final, moving from `from` (queued or running): record
  // it and run the failure hook. Called before any waiter is released.
  virtual void on_task_finished(TaskState& task, TaskStatus from) = 0;
  // The task's waiters were released: it no longer counts as active. The
  // last call a task makes on its host.
  virtual void on_task_settled() noexcept = 0;
  // Whether the finishing steps (which may run user callbacks) may run on
  // the calling thread; false on the watchdog thread and on threads the host
  // does not own (a foreign completer of a pending native task).
  virtual bool finishes_on_this_thread() const noexcept = 0;
  // Runs the finishing steps of `task` (see TaskState::run_tail) on a thread
  // that may run them. The host takes a reference for as long as it needs.
  virtual void finish_elsewhere(TaskState& task, TaskStatus from) = 0;
  // A coroutine task's body starts, or has finished for good (its frames are
  // gone). It may outlive the task's settle (a timeout); the host waits for
  // bodies before it stops its pools.
  virtual void on_body_started() noexcept = 0;
  virtual void on_body_ended() noexcept = 0;
  // A slot for a task that runs on the thread that waits for it (not a
  // worker), so progress and the watchdog see it; null when none is free.
  virtual WorkerSlot* claim_caller_slot() noexcept = 0;
  virtual void return_caller_slot(WorkerSlot* slot) noexcept = 0;
  // Whether a task that starts now may be timed out (a default task timeout
  // or a global timeout is set): such a task's waiter must be released at
  // its deadline, so it is not run on the waiting thread.
  virtual bool tasks_may_time_out() const noexcept = 0;

 protected:
  ~TaskHost() = default;
};

}  // namespace dftracer::utils
