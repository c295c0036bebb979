// Done callbacks for Python (see done_callbacks.hpp).
//
// A callback is a node on the task's awaiter list (TaskState::AwaitNode with
// `notify`): no thread waits per handle and nothing polls; the thread that
// finishes the task walks the list in release_waiters and calls notify.
//
// Where the callable runs:
//  - already final when added: at once, on the caller's thread;
//  - finished on a runtime worker (the usual case), or by a Python thread
//    (cancel(), complete_object): inline there, with the GIL, before the
//    finishing call returns;
//  - finished by the watchdog (a timeout) or by a foreign thread completing
//    a C ABI task: those hand the task's finishing steps to the runtime's
//    callback thread already, so the callable runs there; a foreign thread
//    that cancels through the C ABI posts it there too. User code never runs
//    on the watchdog or on a thread the runtime does not own
//    (docs/design.md, "Threads").
// Never once the interpreter started exiting: then the callable is dropped
// unrun (and its reference leaked, as GilSafeObject does).
//
// Errors raised by the callable are reported as unraisable here; the Python
// wrapper (TaskHandle.add_done_callback) logs them first.
#include "done_callbacks.hpp"

#include <exception>
#include <memory>

#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/runtime.hpp"
#include "gil.hpp"
#include "native_handle.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {

struct PyDoneCallback final : TaskState::AwaitNode {
  GilSafeObject fn;
  // The finisher holds a reference while notify runs (TaskState::finish);
  // the hop takes its own.
  TaskState* task = nullptr;
};

// Runs the callable and frees the node. `cb->task` is alive (see above).
void run_now(std::unique_ptr<PyDoneCallback> cb) {
  if (python_exiting()) return;  // the node's GilSafeObject leaks the callable
  ScopedGil gil;
  survive_finalization([&] {
    try {
      cb->fn.obj(py::cast(NativeHandle{TaskStateRef::share(cb->task)}));
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("dftracer.utils done callback");
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      PyErr_WriteUnraisable(cb->fn.obj.ptr());
    }
    cb.reset();  // drops the callable while we hold the GIL
  });
}

void notify(TaskState::AwaitNode* node) {
  auto* cb = static_cast<PyDoneCallback*>(node);
  if (python_exiting()) {
    delete cb;
    return;
  }
  auto* runtime = dynamic_cast<Runtime*>(cb->task->host());
  if (runtime == nullptr || runtime->finishes_on_this_thread() || PyGILState_Check()) {
    run_now(std::unique_ptr<PyDoneCallback>(cb));
    return;
  }
  // A thread that must not run user code (a foreign thread cancelling the
  // task through the C ABI): the runtime's callback thread runs it, holding
  // the task until then (the finisher's reference is gone by then).
  runtime->callbacks().post(
      [cb, keep = TaskStateRef::share(cb->task)] { run_now(std::unique_ptr<PyDoneCallback>(cb)); });
}

void add_done_callback(const NativeHandle& handle, py::object fn) {
  if (!PyCallable_Check(fn.ptr())) {
    throw py::type_error(std::string("add_done_callback() takes a callable, not ") + Py_TYPE(fn.ptr())->tp_name);
  }
  auto cb = std::make_unique<PyDoneCallback>();
  cb->fn.obj = std::move(fn);
  cb->task = handle.state.get();
  cb->notify = &notify;
  if (handle.state->add_awaiter(cb.get())) {
    (void)cb.release();  // owned by the awaiter list until notify
    return;
  }
  run_now(std::move(cb));  // already final
}

}  // namespace

void register_done_callbacks(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<NativeHandle>>(m.attr("_NativeTaskHandle"));
  cls.def("add_done_callback", &add_done_callback, py::arg("fn"),
          "Calls fn(handle) once the task is final: now if it already is, else on the thread that finishes it "
          "(a runtime worker, or a Python thread that cancels it).");
}

}  // namespace dftracer::utils::python
