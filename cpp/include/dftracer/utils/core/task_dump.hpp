// TaskDumpEntry: one running task as a task dump shows it (Runtime::dump_tasks):
// where it runs, for how long, and what it waits on, read from the worker
// slots and the registry without stopping anyone. The bindings add the
// Python stack of the thread running it (docs/design.md, "Tracing").
#pragma once

#include <cstdint>
#include <string>

#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

struct TaskDumpEntry {
  TaskStateRef task;  // keeps it alive while the dump is read
  std::uint64_t id = 0;
  std::string name;
  TaskStatus status = TaskStatus::running;
  // The thread running it now ("compute worker 2", "io worker 0", "caller
  // 1"); empty when no thread shows it (a coroutine between resumptions, or
  // a task whose wait runs another task inline on its thread).
  std::string worker;
  bool temporary_worker = false;
  std::int64_t running_ns = 0;   // since its body started
  bool blocked = false;          // its thread is blocked in a wait
  std::uint64_t waiting_on = 0;  // the task it waits for; 0: none visible
};

}  // namespace dftracer::utils
