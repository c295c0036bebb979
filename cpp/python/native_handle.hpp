// _NativeTaskHandle: the Python view of one submitted task's state. Python's
// TaskHandle wraps it; extensions hand them out through the C ABI.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>

#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

struct NativeHandle {
  TaskStateRef state;

  // GIL held. Blocks (interruptibly) and returns the result or raises the
  // task's exception. TimeoutError when the timeout passes first.
  py::object result(std::optional<double> timeout_s) const;
  // GIL held, non-blocking: the exception object of a failed task, else None.
  py::object exception() const;
};

// The exception to raise for a final, unsuccessful task (GIL held).
py::object exception_for(TaskState& task);

void register_native_handle(py::module_& m);

}  // namespace dftracer::utils::python
