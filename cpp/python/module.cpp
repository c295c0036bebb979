// dftracer.utils._core: the extension module. Registration only; each class
// lives in its own file.
#include <pybind11/pybind11.h>

#include "c_api_export.hpp"
#include "completion_queue.hpp"
#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/registry.hpp"
#include "dftracer/utils/core/runtime.hpp"
#include "dftracer/utils/core/task_state.hpp"
#include "done_callbacks.hpp"
#include "exceptions.hpp"
#include "gil.hpp"
#include "native_handle.hpp"
#include "native_runtime.hpp"
#include "pending_admission.hpp"
#include "runtime_reaper.hpp"
#include "task_handle_factory.hpp"
#include "task_kinds.hpp"
#include "task_naming.hpp"
#include "tracing.hpp"

namespace py = pybind11;
using namespace dftracer::utils;

PYBIND11_MODULE(_core, m) {
  m.doc() = "C++ engine of dftracer.utils (work-stealing coroutine runtime).";
  m.attr("__version__") = DFTRACER_UTILS_VERSION;

  python::register_exceptions(m);
  python::register_native_handle(m);
  python::register_native_runtime(m);
  python::register_tracing(m);
  python::register_c_api(m);
  python::register_done_callbacks(m);
  python::register_completion_queue(m);
  python::register_pending_admission(m);

  m.def("derive_task_name", &python::derive_task_name, py::arg("fn"),
        "The default task name for a callable (see dftracer.utils.naming).");
  m.def("register_task_handle_type", &python::register_task_handle_type, py::arg("cls"),
        "Called once by dftracer.utils.task_handle: the class submit() returns.");
  m.def(
      "wait_for_reapers",
      [](double timeout_s) {
        return python::without_gil([&] {
          return python::wait_for_reapers(std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::duration<double>(timeout_s < 0 ? 0 : timeout_s)));
        });
      },
      py::arg("timeout"),
      "Waits for runtimes dropped inside their own tasks to finish tearing down; True when none is left.");
  m.def("mark_interpreter_exiting", &python::mark_python_exiting,
        "Called from the package's atexit hook: runtime threads stop touching Python.");
  m.def("current_task_cancelled", &this_task::cancelled,
        "True when the task running this code was asked to stop (cancel or timeout).");
  m.def(
      "report_progress",
      [](std::uint64_t completed, std::uint64_t total) { this_task::report_progress(completed, total); },
      py::arg("completed"), py::arg("total"));
  m.def("current_task_id", []() -> std::int64_t {
    TaskState* t = this_task::current();
    return t ? static_cast<std::int64_t>(t->id()) : -1;
  });
  m.def(
      "current_runtime_id", []() { return reinterpret_cast<std::uintptr_t>(Runtime::current()); },
      "The runtime_id of the runtime whose worker (compute, I/O or temporary) runs this code; 0 elsewhere.");
  m.def(
      "default_thread_count", []() { return resolve_thread_count(0); },
      "The compute thread count threads=0 resolves to (DFTRACER_UTILS_THREADS or the usable CPUs).");
#ifdef NDEBUG
  m.attr("build_type") = "release";
#else
  m.attr("build_type") = "debug";
#endif
  m.attr("compiler") = __VERSION__;
}
