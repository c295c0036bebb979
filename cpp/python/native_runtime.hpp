// _NativeRuntime: the Python view of one C++ Runtime, plus what only a
// Python host needs (the python_threads cap, the Python error callback).
// dftracer.utils.Runtime wraps it.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>

#include "dftracer/utils/core/runtime.hpp"
#include "native_handle.hpp"
#include "python_permits.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

class NativeRuntime {
 public:
  // `options` as the user gave them; the hooks a Python host needs are added.
  // `caller_runs`: a thread that waits (no timeout) for a Python task
  // nobody has started runs it itself (wait_task).
  NativeRuntime(RuntimeOptions options, std::size_t python_threads, bool caller_runs = true);
  ~NativeRuntime();

  // GIL held. The whole submit of a Python callable in one call (the hot
  // path): None when `fn` is not callable, else a dftracer.utils.TaskHandle.
  // `room_timeout`: how long to wait for a max_pending slot (nullopt: as
  // long as it takes; see pending_admission.hpp).
  py::object submit_python(py::handle fn, py::tuple args, py::dict kwargs, py::handle name, bool io,
                           std::optional<double> room_timeout = std::nullopt);
  // _NativeRuntime.submit_python(fn, args, kwargs, name[, io]) as a plain
  // CPython fast-call method: pybind11's argument dispatch cost ~360 ns of
  // a ~2 us submit here. It takes the common case itself (a callable, an
  // exact tuple and dict, no max_pending, the compute pool) and hands
  // everything else to the pybind11-bound full path (_submit_python_full),
  // which raises what applies; nothing is submitted before that hand-over.
  static PyObject* submit_python_fast(PyObject* self, PyObject* const* argv, Py_ssize_t argc);
  bool wait_all(std::optional<double> timeout_s);
  // Closes to new work, then drains interruptibly (cancelling with
  // wait=false), then joins. Idempotent.
  void shutdown(bool wait);
  // The drain step alone, for the exit path: true when nothing is active and
  // no body runs within `timeout_s` (with `cancel`, cancelling what is live).
  bool drain(std::optional<double> timeout_s, bool cancel);
  void set_error_callback(py::object callback);
  // `recent`: whether `tasks` lists the recently finished tasks too (the
  // totals-only readers, such as the Dask progress publisher, skip them).
  py::dict progress(std::size_t max_tasks, bool recent = true) const;
  bool is_responsive() const { return runtime_->is_responsive(); }
  void set_default_task_timeout(py::handle timeout);
  void set_timeout(py::handle timeout);

  // Throws RuntimeError once abandoned.
  Runtime& runtime() { return rt(); }
  std::size_t python_threads() const { return permits_ && permits_->cap() ? permits_->cap() : rt().threads(); }
  // Leaks the runtime on purpose (a forked child: its threads do not exist
  // there, so nothing may be joined or freed).
  void abandon() noexcept;
  bool abandoned() const noexcept { return !runtime_; }

 private:
  Runtime& rt() const;
  // GIL held. The task of one Python submit, not yet queued.
  TaskStateRef make_python_task(py::handle fn, py::tuple args, py::handle kwargs, std::string name) const;

  // Shared with every Python task (which may outlive this object).
  std::shared_ptr<PythonPermits> permits_;
  std::unique_ptr<Runtime> runtime_;
  bool caller_runs_;
};

void register_native_runtime(py::module_& m);

}  // namespace dftracer::utils::python
