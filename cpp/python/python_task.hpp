// Task states whose result and error are Python objects.
//
// PyResultTaskState owns a result object and an exception object (with its
// traceback), so get() can return the very object and re-raise the very
// exception the task produced. Its destructor takes the GIL: the last
// reference may be dropped on any thread.
//
// PythonTaskState runs a Python callable on a runtime worker, holding the GIL
// only around the call.
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "dftracer/utils/core/task_state.hpp"
#include "python_permits.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

// The C++-side error of a task that raised in Python: carries the message
// (for progress and logs); the exception object itself lives in the state.
class PythonTaskError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PyResultTaskState : public TaskState {
 public:
  using TaskState::TaskState;
  ~PyResultTaskState() override;

  // GIL held. The result (None when failed or not done).
  virtual py::object result() const { return result_ ? result_ : py::none(); }
  // GIL held. The exception object, or None.
  py::object exception_object() const { return exception_ ? exception_ : py::none(); }
  // GIL held. The exception's traceback as the task left it (None if none).
  // Raising an exception again appends the raiser's frames to its
  // __traceback__, so each get() re-raises from this one, not from what the
  // previous get() left behind.
  py::object original_traceback() const { return traceback_ ? traceback_ : py::none(); }

  // GIL held: records the outcome of a finished Python call (exactly one of
  // the two), and returns the message to put in PythonTaskError.
  void store_result(py::object value) { result_ = std::move(value); }
  std::string store_current_exception();

 protected:
  // mutable: a subclass may build the Python result lazily, on first read.
  mutable py::object result_;
  py::object exception_;
  py::object traceback_;
};

class PythonTaskState final : public PyResultTaskState {
 public:
  PythonTaskState(py::object fn, py::tuple args, py::object kwargs, std::string name,
                  PythonPermits* permits);
  ~PythonTaskState() override;

  // GIL held. Raises `exception_type` inside the callable at its next
  // bytecode boundary, if it is still running (timeouts). It cannot cut a
  // C call short (time.sleep, a blocking read) but fires when it returns.
  void interrupt(PyObject* exception_type);

 protected:
  void run() override;
  // A task cancelled before it ran drops its callable and arguments here,
  // not when its last handle goes.
  void on_final() override;

 private:
  void drop_call();

  py::object fn_;
  py::object args_;  // a tuple
  py::object kwargs_;  // dict or None
  PythonPermits* permits_;
  // Guarded by the GIL: whether the callable is running, on which thread,
  // and whether an asynchronous exception was sent to it.
  bool in_call_ = false;
  bool interrupted_ = false;
  unsigned long thread_ident_ = 0;
};

// "TypeName: message" for a Python exception object (GIL held, never throws).
std::string describe_python_exception(py::handle exc) noexcept;

}  // namespace dftracer::utils::python
