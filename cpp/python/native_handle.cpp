// _NativeTaskHandle bindings (see native_handle.hpp).
#include "native_handle.hpp"

#include <pybind11/gil_safe_call_once.h>
#include <pybind11/stl.h>

#include "dftracer/utils/core/errors.hpp"
#include "exceptions.hpp"
#include "plain_method.hpp"
#include "task_kinds.hpp"
#include "waiting.hpp"

namespace dftracer::utils::python {

namespace {
thread_local const TaskState* tls_failure_callback_task = nullptr;

// What result(timeout) raises when the wait gives up: a TimeoutError that
// both `except TimeoutError` and `except concurrent.futures.TimeoutError`
// catch. From Python 3.11 on they are one class; on 3.9 and 3.10 they are
// distinct, so this is a class deriving from both. Made once; the import
// may release the GIL, hence the GIL-safe once.
PyObject* wait_timeout_error() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> storage;
  return storage
      .call_once_and_store_result([] {
        py::object futures = py::module_::import("concurrent.futures").attr("TimeoutError");
        auto builtin = py::reinterpret_borrow<py::object>(PyExc_TimeoutError);
        if (futures.is(builtin)) return futures;
        py::dict ns;
        ns["__module__"] = "dftracer.utils";
        ns["__doc__"] = "A wait gave up (concurrent.futures.TimeoutError and TimeoutError).";
        auto type = py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&PyType_Type));
        return type("TimeoutError", py::make_tuple(futures, builtin), ns);
      })
      .get_stored()
      .ptr();
}
// What _completed_result answers when the task is not (yet) a success.
PyObject* g_not_ready = nullptr;

// _NativeTaskHandle._completed_result(): the result of a task that is done
// and completed, else _core.NOT_READY (the caller then takes result()).
// A plain CPython method, not a pybind11 one: gathering finished results is
// the hot half of a submit loop (plain_method.hpp). It never raises.
PyObject* completed_result(PyObject* self, PyObject*) {
  try {
    // The method descriptor admits only instances of the class.
    const auto& h = py::handle(self).cast<const NativeHandle&>();
    if (settled_for_caller(*h.state) && h.state->status() == TaskStatus::completed) {
      if (auto* py_state = dynamic_cast<PyResultTaskState*>(h.state.get())) return py_state->result().release().ptr();
      Py_RETURN_NONE;
    }
  } catch (...) {
    // Nothing above throws for a _NativeTaskHandle; never let C++ unwind
    // into the interpreter: let result() say what is wrong.
  }
  Py_INCREF(g_not_ready);
  return g_not_ready;
}

PyMethodDef g_completed_result_def = {"_completed_result", completed_result, METH_NOARGS,
                                      "The result when done and completed, else dftracer.utils._core.NOT_READY."};

// _NativeTaskHandle.done(), plain CPython for the same reason: polling loops
// (as_completed, wait) call it over and over. It never raises.
PyObject* handle_done(PyObject* self, PyObject*) {
  bool done = false;
  try {
    done = settled_for_caller(*py::handle(self).cast<const NativeHandle&>().state);
  } catch (...) {
    // Only a _NativeTaskHandle reaches here (the method descriptor checks).
  }
  return PyBool_FromLong(done ? 1 : 0);
}

PyMethodDef g_done_def = {"done", handle_done, METH_NOARGS, "True once the task is final."};
}  // namespace

bool settled_for_caller(const TaskState& task) noexcept { return task.done() || tls_failure_callback_task == &task; }

FailureCallbackScope::FailureCallbackScope(const TaskState* task) noexcept : outer_(tls_failure_callback_task) {
  tls_failure_callback_task = task;
}

FailureCallbackScope::~FailureCallbackScope() { tls_failure_callback_task = outer_; }

py::object NativeHandle::result(std::optional<double> timeout_s) const {
  if (!settled_for_caller(*state) && !wait_task(*state, checked_timeout(timeout_s))) {
    // Like concurrent.futures: the task goes on, only this wait gave up.
    PyErr_SetString(wait_timeout_error(), ("task '" + state->name() + "' did not finish in time").c_str());
    throw py::error_already_set();
  }
  TaskStatus s = state->status();
  if (s == TaskStatus::completed) {
    if (auto* py_state = dynamic_cast<PyResultTaskState*>(state.get())) return py_state->result();
    return py::none();
  }
  raise_task_exception(*state);
}

py::object NativeHandle::exception() const {
  if (!settled_for_caller(*state)) return py::none();
  TaskStatus status = state->status();
  if (status == TaskStatus::completed || status == TaskStatus::cancelled) return py::none();
  return exception_with_task_traceback(*state);
}

void register_native_handle(py::module_& m) {
  py::class_<NativeHandle>(m, "_NativeTaskHandle",
                           "Native view of one submitted task. Wrapped by dftracer.utils.TaskHandle.")
      .def_property_readonly("task_id", [](const NativeHandle& h) { return h.state->id(); })
      .def_property_readonly("name", [](const NativeHandle& h) { return h.state->name(); })
      .def_property_readonly("state", [](const NativeHandle& h) { return std::string(to_string(h.state->status())); })
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
                               return ms_between_ns(h.state->submit_ns(), start ? start : h.state->end_ns());
                             })
      .def_property_readonly(
          "execution_duration_ms",
          [](const NativeHandle& h) { return ms_between_ns(h.state->start_ns(), h.state->end_ns()); })
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
  // Leaked on purpose, like every object the module hands out for its life.
  g_not_ready = py::object(py::module_::import("builtins").attr("object")()).release().ptr();
  m.attr("NOT_READY") = py::handle(g_not_ready);
  py::object cls = m.attr("_NativeTaskHandle");
  add_plain_method(cls, &g_completed_result_def);
  add_plain_method(cls, &g_done_def);
}

}  // namespace dftracer::utils::python
