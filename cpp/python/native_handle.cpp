// _NativeTaskHandle bindings (see native_handle.hpp).
#include "native_handle.hpp"

#include <pybind11/stl.h>

#include "dftracer/utils/core/errors.hpp"
#include "python_task.hpp"
#include "waiting.hpp"

namespace dftracer::utils::python {

namespace {
thread_local const TaskState* tls_failure_callback_task = nullptr;

py::object cancelled_error_type() {
  return py::module_::import("concurrent.futures").attr("CancelledError");
}

double ms_between(std::int64_t from_ns, std::int64_t to_ns) {
  if (from_ns == 0 || to_ns == 0 || to_ns < from_ns) return 0.0;
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

// The traceback the task left on its exception (see original_traceback), or
// the exception's own for errors made here. New reference or null.
PyObject* task_traceback(TaskState& task, py::handle exc) {
  if (auto* py_state = dynamic_cast<PyResultTaskState*>(&task)) {
    if (py_state->exception_object().is(exc)) {
      py::object tb = py_state->original_traceback();
      return tb.is_none() ? nullptr : tb.release().ptr();
    }
  }
  return PyException_GetTraceback(exc.ptr());
}

[[noreturn]] void raise_object(py::handle exc, PyObject* tb) {
  PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr()));
  Py_INCREF(type);
  Py_INCREF(exc.ptr());
  PyErr_Restore(type, exc.ptr(), tb);
  throw py::error_already_set();
}
}  // namespace

bool settled_for_caller(const TaskState& task) noexcept {
  return task.done() || tls_failure_callback_task == &task;
}

FailureCallbackScope::FailureCallbackScope(const TaskState* task) noexcept : outer_(tls_failure_callback_task) {
  tls_failure_callback_task = task;
}

FailureCallbackScope::~FailureCallbackScope() { tls_failure_callback_task = outer_; }

py::object exception_for(TaskState& task) {
  TaskStatus status = task.status();
  if (status == TaskStatus::cancelled) {
    // Built here, not from error(): cancel() publishes the status first.
    return cancelled_error_type()("task '" + task.name() + "' was cancelled");
  }
  if (status == TaskStatus::failed) {
    // A timed-out task keeps its TaskTimeoutError even if the body raised
    // after the deadline.
    if (auto* py_state = dynamic_cast<PyResultTaskState*>(&task)) {
      py::object exc = py_state->exception_object();
      if (!exc.is_none()) return exc;
    }
  }
  std::exception_ptr error = task.error();
  if (!error) return py::none();
  try {
    std::rethrow_exception(error);
  } catch (const TaskCancelledError& e) {
    return cancelled_error_type()(e.what());
  } catch (const TaskTimeoutError& e) {
    return py::module_::import("dftracer.utils._core").attr("TaskTimeoutError")(e.what());
  } catch (const std::exception& e) {
    return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(e.what());
  } catch (...) {
    return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)("unknown native error");
  }
}

py::object NativeHandle::result(std::optional<double> timeout_s) const {
  if (!settled_for_caller(*state) && !wait_task(*state, checked_timeout(timeout_s))) {
    // Like concurrent.futures: the task goes on, only this wait gave up.
    PyErr_SetString(PyExc_TimeoutError, ("task '" + state->name() + "' did not finish in time").c_str());
    throw py::error_already_set();
  }
  TaskStatus s = state->status();
  if (s == TaskStatus::completed) {
    if (auto* py_state = dynamic_cast<PyResultTaskState*>(state.get())) return py_state->result();
    return py::none();
  }
  py::object exc = exception_for(*state);
  raise_object(exc, task_traceback(*state, exc));
}

py::object NativeHandle::exception() const {
  if (!settled_for_caller(*state)) return py::none();
  TaskStatus status = state->status();
  if (status == TaskStatus::completed || status == TaskStatus::cancelled) return py::none();
  py::object exc = exception_for(*state);
  // Show the task's own traceback, not one grown by earlier get() calls.
  if (PyObject* tb = task_traceback(*state, exc)) {
    PyException_SetTraceback(exc.ptr(), tb);
    Py_DECREF(tb);
  }
  return exc;
}

void register_native_handle(py::module_& m) {
  py::class_<NativeHandle>(m, "_NativeTaskHandle",
                           "Native view of one submitted task. Wrapped by dftracer.utils.TaskHandle.")
      .def_property_readonly("task_id", [](const NativeHandle& h) { return h.state->id(); })
      .def_property_readonly("name", [](const NativeHandle& h) { return h.state->name(); })
      .def_property_readonly("state", [](const NativeHandle& h) { return std::string(to_string(h.state->status())); })
      .def("done", [](const NativeHandle& h) { return settled_for_caller(*h.state); })
      .def(
          "wait",
          [](const NativeHandle& h, std::optional<double> timeout) {
            return settled_for_caller(*h.state) || wait_task(*h.state, checked_timeout(timeout));
          },
          py::arg("timeout") = py::none(),
          "Blocks until the task is final or the timeout (seconds) passes; returns done().")
      .def("result", &NativeHandle::result, py::arg("timeout") = py::none())
      .def("get", &NativeHandle::result, py::arg("timeout") = py::none(),
           "Alias of result(), so a native handle is used the way a dftracer.utils.TaskHandle is.")
      .def("exception", &NativeHandle::exception,
           "The exception of a failed or timed-out task; None while unfinished, on success or when cancelled.")
      .def("cancel", [](const NativeHandle& h) { return h.state->cancel(); })
      .def("cancelled", [](const NativeHandle& h) { return h.state->status() == TaskStatus::cancelled; })
      .def("cancel_requested", [](const NativeHandle& h) { return h.state->cancel_requested(); })
      .def_property_readonly("queued_duration_ms",
                             [](const NativeHandle& h) {
                               auto start = h.state->start_ns();
                               return ms_between(h.state->submit_ns(), start ? start : h.state->end_ns());
                             })
      .def_property_readonly("execution_duration_ms",
                             [](const NativeHandle& h) { return ms_between(h.state->start_ns(), h.state->end_ns()); })
      .def("__eq__",
           [](const NativeHandle& a, py::object other) -> py::object {
             // Same task, same handle; anything else: NotImplemented, as
             // Python's own types do, so == never raises.
             if (!py::isinstance<NativeHandle>(other)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
             return py::bool_(a.state.get() == other.cast<const NativeHandle&>().state.get());
           })
      .def("__hash__", [](const NativeHandle& h) { return std::hash<const void*>()(h.state.get()); })
      .def("__repr__", [](const NativeHandle& h) {
        return "<_NativeTaskHandle id=" + std::to_string(h.state->id()) + " name='" + h.state->name() +
               "' state=" + std::string(to_string(h.state->status())) + ">";
      });
}

}  // namespace dftracer::utils::python
