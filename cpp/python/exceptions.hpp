// Exceptions between the engine and Python, in one place: the exception
// types the module defines (TaskTimeoutError, RuntimeFullError), the
// translation of engine errors (RuntimeShutdownError, ThreadStartError), the
// Python exception a finished task raises, and the "Type: message" text the
// registry keeps for progress and wait_all(raise_on_error=True).
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

// The engine-side error of a task that raised in Python: carries the
// message (for progress and logs); the exception object itself lives in the
// task's state (PyResultTaskState).
class PythonTaskError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Module set-up: defines the exception types, the translators, and the
// registry's describer.
void register_exceptions(py::module_& m);

// The types, once registered (GIL held).
py::handle timeout_error_type() noexcept;
py::handle runtime_full_error_type() noexcept;
py::object cancelled_error_type();

// GIL held. The exception to raise for a final, unsuccessful task (None for
// a completed one): the task's own object for a Python failure.
py::object exception_for(TaskState& task);
// GIL held. exception_for, with the traceback the task left (not one grown
// by earlier raises): what TaskHandle.exception shows.
py::object exception_with_task_traceback(TaskState& task);
// GIL held. Raises exception_for(task) with the task's own traceback.
[[noreturn]] void raise_task_exception(TaskState& task);

// "TypeName: message" for a Python exception object (GIL held, never throws).
std::string describe_python_exception(py::handle exc) noexcept;

}  // namespace dftracer::utils::python
