// The bindings' task kinds (see task_kinds.hpp).
#include "task_kinds.hpp"

#include "exceptions.hpp"
#include "gil.hpp"
#include "task_location.hpp"

namespace dftracer::utils::python {

namespace {
// Drops Python references from a thread that may not hold the GIL: leaked
// once the interpreter is exiting (no thread may touch Python then), else
// dropped under the GIL, where dropping may run __del__ (and, during
// finalization, end this thread: see survive_finalization).
template <class... Objects>
void drop_python_objects(Objects&... objects) {
  if ((!objects && ...)) return;
  if (python_exiting()) {
    (objects.release(), ...);
    return;
  }
  ScopedGil gil;
  survive_finalization([&] { ((objects = py::object()), ...); });
}
}  // namespace

PyResultTaskState::~PyResultTaskState() { drop_python_objects(result_, exception_, traceback_); }

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

std::string& c_api_last_error() noexcept {
  thread_local std::string last_error;
  return last_error;
}

namespace {
// GIL held: the Python task running its code on this thread now.
thread_local PythonTaskState* tls_innermost = nullptr;
}  // namespace

PythonTaskState::PythonTaskState(py::object fn, py::tuple args, py::object kwargs, std::string name,
                                 std::shared_ptr<PythonPermits> permits)
    : PyResultTaskState(std::move(name)),
      fn_(std::move(fn)),
      args_(std::move(args)),
      kwargs_(std::move(kwargs)),
      permits_(std::move(permits)) {
  set_location(python_location(fn_.ptr()));
}

PythonTaskState* PythonTaskState::innermost_on_this_thread() noexcept { return tls_innermost; }

bool PythonTaskState::run_on_waiting_thread() {
  if (!caller_may_run_ || status() != TaskStatus::queued || python_exiting()) return false;
  PythonPermits::Hold permit(permits_.get(), PythonPermits::Hold::NoWait{});
  if (!permit.held()) return false;
  return run_on_caller();  // run()'s own Hold nests in ours
}

py::object PythonTaskState::take_held_interrupt() {
  py::object type = std::move(held_interrupt_);
  held_interrupt_ = py::object();
  return type;
}

PythonTaskState::~PythonTaskState() { drop_call(); }

void PythonTaskState::on_final() {
  // Only when it never ran: a timed-out body may still be using them.
  if (status() == TaskStatus::cancelled) drop_call();
}

void PythonTaskState::drop_call() {
  // Normally dropped by run(); still set when the task never ran.
  drop_python_objects(fn_, args_, kwargs_);
}

void PythonTaskState::interrupt(PyObject* exception_type) {
  if (!in_call_) return;
  if (inner_ != nullptr) {
    // Another task's code runs on that thread now: an asynchronous exception
    // would hit it, not us. Raised from our get() once it returns.
    held_interrupt_ = py::reinterpret_borrow<py::object>(exception_type);
    return;
  }
  if (PyThreadState_SetAsyncExc(thread_ident_, exception_type) > 0) interrupted_ = true;
}

void PythonTaskState::run() {
  if (python_exiting()) {
    finish_failure(std::make_exception_ptr(PythonTaskError("the Python interpreter is exiting")));
    return;
  }
  PythonPermits::Hold permit(permits_.get());
  bool ok;
  std::string message;
  {
    ScopedGil gil;
    // The call may drop and retake the GIL (see survive_finalization).
    ok = survive_finalization([&] {
      PyObject* kwargs = kwargs_ && !kwargs_.is_none() ? kwargs_.ptr() : nullptr;
      thread_ident_ = PyThread_get_thread_ident();
      outer_ = tls_innermost;
      if (outer_ != nullptr) {
        // We run inline inside the outer task's wait. An interrupt already
        // sent to it may still be pending on this thread: take it back, or
        // our code would raise the outer task's timeout.
        outer_->inner_ = this;
        if (outer_->interrupted_) {
          PyThreadState_SetAsyncExc(thread_ident_, nullptr);
          outer_->interrupted_ = false;
          if (!outer_->held_interrupt_) {
            outer_->held_interrupt_ = py::reinterpret_borrow<py::object>(timeout_error_type());
          }
        }
      }
      tls_innermost = this;
      in_call_ = true;
      PyObject* r = PyObject_Call(fn_.ptr(), args_.ptr(), kwargs);
      in_call_ = false;
      tls_innermost = outer_;
      if (outer_ != nullptr) outer_->inner_ = nullptr;
      outer_ = nullptr;
      if (interrupted_) {
        // An interrupt sent while the call was returning may still be
        // pending on this thread: clear it so it cannot hit the code that
        // runs next here (the outer task, or the worker's next task).
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
      held_interrupt_ = py::object();
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
