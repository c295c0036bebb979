// Running Python callables on workers (see python_task.hpp).
#include "python_task.hpp"

#include "gil.hpp"
#include "task_location.hpp"

namespace dftracer::utils::python {

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

PyResultTaskState::~PyResultTaskState() {
  if (!result_ && !exception_ && !traceback_) return;
  if (python_exiting()) {
    result_.release();
    exception_.release();
    traceback_.release();
    return;
  }
  ScopedGil gil;
  survive_finalization([this] {  // dropping them may run __del__
    result_ = py::object();
    exception_ = py::object();
    traceback_ = py::object();
  });
}

std::string PyResultTaskState::store_current_exception() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (traceback && value) PyException_SetTraceback(value, traceback);
  Py_XDECREF(type);
  traceback_ = py::reinterpret_steal<py::object>(traceback);
  exception_ = py::reinterpret_steal<py::object>(value);
  return describe_python_exception(exception_);
}

PythonTaskState::PythonTaskState(py::object fn, py::tuple args, py::object kwargs, std::string name,
                                 PythonPermits* permits)
    : PyResultTaskState(std::move(name)),
      fn_(std::move(fn)),
      args_(std::move(args)),
      kwargs_(std::move(kwargs)),
      permits_(permits) {
  set_location(python_location(fn_.ptr()));
}

PythonTaskState::~PythonTaskState() { drop_call(); }

void PythonTaskState::on_final() {
  // Only when it never ran: a timed-out body may still be using them.
  if (status() == TaskStatus::cancelled) drop_call();
}

void PythonTaskState::drop_call() {
  // Normally dropped by run(); still set when the task never ran.
  if (!fn_ && !args_ && !kwargs_) return;
  if (python_exiting()) {
    fn_.release();
    args_.release();
    kwargs_.release();
    return;
  }
  ScopedGil gil;
  survive_finalization([this] {
    fn_ = py::object();
    args_ = py::object();
    kwargs_ = py::object();
  });
}

void PythonTaskState::interrupt(PyObject* exception_type) {
  if (!in_call_) return;
  if (PyThreadState_SetAsyncExc(thread_ident_, exception_type) > 0) interrupted_ = true;
}

void PythonTaskState::run() {
  if (python_exiting()) {
    finish_failure(std::make_exception_ptr(PythonTaskError("the Python interpreter is exiting")));
    return;
  }
  PythonPermits::Hold permit(permits_);
  bool ok;
  std::string message;
  {
    ScopedGil gil;
    // The call may drop and retake the GIL (see survive_finalization).
    ok = survive_finalization([&] {
      PyObject* kwargs = kwargs_ && !kwargs_.is_none() ? kwargs_.ptr() : nullptr;
      thread_ident_ = PyThread_get_thread_ident();
    in_call_ = true;
    PyObject* r = PyObject_Call(fn_.ptr(), args_.ptr(), kwargs);
    in_call_ = false;
    if (interrupted_) {
      // An interrupt sent while the call was returning may still be pending
      // on this thread: clear it so it cannot hit the worker's next task.
      PyThreadState_SetAsyncExc(thread_ident_, nullptr);
      interrupted_ = false;
    }
      if (r != nullptr) {
        store_result(py::reinterpret_steal<py::object>(r));
      } else {
        message = store_current_exception();
      }
      // Drop the callable and its arguments now, while we hold the GIL.
      fn_ = py::object();
      args_ = py::object();
      kwargs_ = py::object();
      return r != nullptr;
    });
  }
  if (ok) {
    finish_success();
  } else {
    finish_failure(std::make_exception_ptr(PythonTaskError(message)));
  }
}

}  // namespace dftracer::utils::python
