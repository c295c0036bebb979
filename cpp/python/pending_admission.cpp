// max_pending admission for Python and C ABI submitters (see
// pending_admission.hpp).
#include "pending_admission.hpp"

#include <string>

#include "exceptions.hpp"
#include "gil.hpp"
#include "native_runtime.hpp"
#include "released_wait.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {
std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

[[noreturn]] void raise_full(const PendingLimit& limit, double waited_s) {
  std::string message = "dftracer.utils runtime is full: " + std::to_string(limit.pending()) +
                        " tasks pending (max_pending=" + std::to_string(limit.max()) + ")";
  if (waited_s > 0) message += "; no room after waiting " + seconds(waited_s) + " s";
  PyErr_SetString(runtime_full_error_type().ptr(), message.c_str());
  throw py::error_already_set();
}

// Admits at once where no wait is needed: no bound, a submit from the
// runtime's own tasks (admitted over the bound: the submitter is itself
// pending, docs/large-jobs.md), or room left.
bool admitted_at_once(Runtime& runtime, PendingLimit& limit) {
  if (!limit.enabled()) return true;
  if (Runtime::current() == &runtime) {
    limit.force_acquire();
    return true;
  }
  return limit.try_acquire();
}
}  // namespace

void admit_python(Runtime& runtime, std::optional<double> room_timeout) {
  PendingLimit& limit = runtime.pending_limit();
  if (admitted_at_once(runtime, limit)) return;
  if (room_timeout && !(*room_timeout > 0)) raise_full(limit, 0);
  bool admitted = released_wait(room_timeout, [&](std::chrono::nanoseconds slice) { return limit.acquire_for(slice); });
  if (!admitted) raise_full(limit, *room_timeout);
}

void admit_foreign(Runtime& runtime) noexcept {
  PendingLimit& limit = runtime.pending_limit();
  if (admitted_at_once(runtime, limit)) return;
  // Not interruptible: the C ABI has no way to hand back a Python
  // exception, and a signal handler runs once the caller returns to Python.
  const bool holds_gil = !python_exiting() && PyGILState_Check();
  PyThreadState* saved = holds_gil ? PyEval_SaveThread() : nullptr;
  {
    PythonPermits::Pause pause;
    Executor::BlockingScope blocking;
    limit.acquire();
  }
  if (saved) survive_finalization([saved] { PyEval_RestoreThread(saved); });
}

void register_pending_admission(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<NativeRuntime>>(m.attr("_NativeRuntime"));
  cls.def(
         "try_submit_python",
         [](NativeRuntime& self, py::handle fn, py::tuple args, py::dict kwargs, py::handle name, bool io,
            double timeout) {
           if (!(timeout >= 0)) throw py::value_error("timeout must be a non-negative number of seconds");
           return self.submit_python(fn, std::move(args), std::move(kwargs), name, io, timeout);
         },
         py::arg("fn"), py::arg("args"), py::arg("kwargs"), py::arg("name"), py::arg("io") = false,
         py::arg("timeout") = 0.0,
         "As submit_python, but raises RuntimeFullError when no max_pending slot frees up within timeout seconds.")
      .def_property_readonly(
          "max_pending", [](NativeRuntime& self) { return self.runtime().pending_limit().max(); },
          "The max_pending bound (0: none).")
      .def_property_readonly(
          "pending", [](NativeRuntime& self) { return self.runtime().pending_limit().pending(); },
          "Tasks holding a max_pending slot now (0 when there is no bound).");
}

}  // namespace dftracer::utils::python
