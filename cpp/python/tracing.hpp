// The timeline and task dumps for Python: _NativeRuntime.start_trace /
// stop_trace / dump_tasks, the Python task kind for trace categories, and
// the task dump the watchdog's log carries (docs/tracing.md).
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

// GIL held. One dict per running task (Runtime::dump_tasks, plus what only
// the bindings know: the task kind, the Python thread running its call).
py::list task_dump_entries(Runtime& runtime);

// Callback thread, GIL not held: logs the watchdog's events on the
// "dftracer.utils" logger and, for a stall, starvation or long task, a task
// dump with the Python stacks (at most one per kDumpEvery for stalls and
// starvation; every long-task report carries one).
// `last_dump_ns`: when this runtime's last stall or starvation dump was logged.
void log_watchdog_events_with_dump(Runtime& runtime, std::atomic<std::int64_t>& last_dump_ns,
                                   const std::vector<WatchdogEvent>& events);

void register_tracing(py::module_& m);

}  // namespace dftracer::utils::python
