// Blocking waits called from Python: GIL released, interruptible.
//
// The main thread waits in short slices and runs PyErr_CheckSignals between
// them, so Ctrl-C raises KeyboardInterrupt promptly (workers block signals,
// so SIGINT also cuts a slice short). On a runtime worker without a timeout
// the wait goes through TaskState::wait, which runs a still-queued task
// inline or lets the pool add a temporary worker, and the worker's
// python_threads permit is handed back for the duration.
#pragma once

#include <optional>

#include "dftracer/utils/core/runtime.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils::python {

// Seconds -> true when done, false when the timeout passed. Raises (throws
// pybind11::error_already_set) on a pending signal. GIL held on entry.
bool wait_task(TaskState& task, std::optional<double> timeout_s);

// Runtime::wait_all with the same rules.
bool wait_all(Runtime& runtime, std::optional<double> timeout_s);

// Until nothing is active and no body runs (Runtime::drain_for), with the
// same rules; with `cancel`, cancels what is live before every slice.
bool drain(Runtime& runtime, std::optional<double> timeout_s, bool cancel);

// Records a runtime whose threads are gone (inherited through os.fork, or
// left behind at exit): waiting for its unfinished tasks raises RuntimeError
// instead of blocking forever. Lock-free, so it is safe in a forked child.
void note_abandoned(const Runtime* runtime) noexcept;

// Converts a user timeout in seconds, rejecting negative and NaN values.
std::optional<double> checked_timeout(std::optional<double> timeout_s);

}  // namespace dftracer::utils::python
