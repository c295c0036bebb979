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

// True when `task` is done, or when this thread is running the task's error
// callback: the task is final then (its result or exception is stored) but
// its waiters are released only after the callback returns, so without this
// the callback would see its own handle as unfinished, and get() would wait
// for itself.
bool settled_for_caller(const TaskState& task) noexcept;

// Marks the task whose error callback this thread runs, for its lifetime.
class FailureCallbackScope {
 public:
  explicit FailureCallbackScope(const TaskState* task) noexcept;
  ~FailureCallbackScope();
  FailureCallbackScope(const FailureCallbackScope&) = delete;
  FailureCallbackScope& operator=(const FailureCallbackScope&) = delete;

 private:
  const TaskState* outer_;
};

void register_native_handle(py::module_& m);

}  // namespace dftracer::utils::python
