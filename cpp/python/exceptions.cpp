// Exceptions between the engine and Python (see exceptions.hpp).
#include "exceptions.hpp"

#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/registry.hpp"
#include "task_kinds.hpp"

namespace dftracer::utils::python {

namespace {
// Created at module set-up, kept for the process.
PyObject* g_timeout_error = nullptr;
PyObject* g_full_error = nullptr;

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

}  // namespace

py::handle timeout_error_type() noexcept { return g_timeout_error; }
py::handle runtime_full_error_type() noexcept { return g_full_error; }

py::object cancelled_error_type() { return py::module_::import("concurrent.futures").attr("CancelledError"); }

void register_exceptions(py::module_& m) {
  auto& timeout_error = py::register_exception<TaskTimeoutError>(m, "TaskTimeoutError", PyExc_TimeoutError);
  timeout_error.attr("__module__") = "dftracer.utils";
  timeout_error.attr("__doc__") = "A task ran past its deadline (a TimeoutError).";
  g_timeout_error = timeout_error.ptr();
  Py_INCREF(g_timeout_error);

  g_full_error = PyErr_NewExceptionWithDoc(
      "dftracer.utils.RuntimeFullError",
      "max_pending tasks are already queued or running: raised by Runtime.try_submit() instead of waiting.",
      PyExc_RuntimeError, nullptr);
  if (!g_full_error) throw py::error_already_set();
  m.attr("RuntimeFullError") = py::reinterpret_borrow<py::object>(g_full_error);

  // Engine errors with a Python meaning (std::invalid_argument is already
  // ValueError): the runtime refuses work, or the system refused a thread.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const RuntimeShutdownError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const ThreadStartError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  // Errors recorded by the registry (progress "errors", raise_on_error)
  // read as the Python exception each one becomes.
  set_error_describer([](const std::exception_ptr& error, std::string& out) {
    try {
      std::rethrow_exception(error);
    } catch (const PythonTaskError& e) {
      out = e.what();  // already "Type: message"
    } catch (const TaskTimeoutError& e) {
      out = std::string("TaskTimeoutError: ") + e.what();
    } catch (const TaskCancelledError& e) {
      out = std::string("CancelledError: ") + e.what();
    } catch (const std::exception& e) {
      out = std::string("RuntimeError: ") + e.what();
    } catch (...) {
      return false;
    }
    return true;
  });
}

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
    return py::reinterpret_borrow<py::object>(timeout_error_type())(e.what());
  } catch (const std::exception& e) {
    return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(e.what());
  } catch (...) {
    return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)("unknown native error");
  }
}

py::object exception_with_task_traceback(TaskState& task) {
  py::object exc = exception_for(task);
  if (exc.is_none()) return exc;
  if (PyObject* tb = task_traceback(task, exc)) {
    PyException_SetTraceback(exc.ptr(), tb);
    Py_DECREF(tb);
  }
  return exc;
}

void raise_task_exception(TaskState& task) {
  py::object exc = exception_for(task);
  PyObject* tb = task_traceback(task, exc);
  PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr()));
  Py_INCREF(type);
  Py_INCREF(exc.ptr());
  PyErr_Restore(type, exc.ptr(), tb);
  throw py::error_already_set();
}

std::string describe_python_exception(py::handle exc) noexcept {
  std::string out = Py_TYPE(exc.ptr())->tp_name;
  PyObject* text = PyObject_Str(exc.ptr());
  if (text) {
    const char* s = PyUnicode_AsUTF8(text);
    if (s && *s) {
      out += ": ";
      out += s;
    }
    Py_DECREF(text);
  }
  if (PyErr_Occurred()) PyErr_Clear();  // str() of a hostile exception may raise
  return out;
}

}  // namespace dftracer::utils::python
