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

#include <memory>
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
  // Shares `permits` with the runtime: a task may outlive the runtime's
  // Python object (dropped inside one of its tasks), never what it uses.
  PythonTaskState(py::object fn, py::tuple args, py::object kwargs, std::string name,
                  std::shared_ptr<PythonPermits> permits);
  ~PythonTaskState() override;

  // GIL held. Raises `exception_type` inside the callable, if it is still
  // running (timeouts), at its next bytecode boundary: it cannot cut a C
  // call short (time.sleep, a blocking read) but fires when it returns.
  // The interrupt reaches this task's own code only: while another task runs
  // inline on the same thread (inside this one's get()), it is held back and
  // raised from that get() when it returns (take_held_interrupt).
  void interrupt(PyObject* exception_type);

  // GIL held. The Python task whose code runs on this thread right now
  // (the innermost one, when tasks run inline inside others' waits), or null.
  static PythonTaskState* innermost_on_this_thread() noexcept;
  // GIL held. An interrupt held back while a task ran inline (see
  // interrupt()): the exception type to raise now, or null.
  py::object take_held_interrupt();

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
  std::shared_ptr<PythonPermits> permits_;
  // Guarded by the GIL: whether the callable is running, on which thread,
  // the task running inline inside it (innermost first), whether an
  // asynchronous exception was sent to it, and one held back.
  bool in_call_ = false;
  bool interrupted_ = false;
  unsigned long thread_ident_ = 0;
  PythonTaskState* outer_ = nullptr;  // the task whose wait we run inside
  PythonTaskState* inner_ = nullptr;  // the task running inside our wait
  py::object held_interrupt_;
};

// "TypeName: message" for a Python exception object (GIL held, never throws).
std::string describe_python_exception(py::handle exc) noexcept;

}  // namespace dftracer::utils::python
