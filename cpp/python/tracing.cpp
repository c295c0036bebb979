// The timeline and task dumps for Python (see tracing.hpp).
#include "tracing.hpp"

#include <pybind11/stl.h>

#include <chrono>
#include <string>
#include <typeinfo>

#include "dftracer/utils/core/tracer.hpp"
#include "gil.hpp"
#include "native_runtime.hpp"
#include "task_kinds.hpp"

namespace dftracer::utils::python {

namespace {

// Stall and starvation dumps of one runtime at most this often: a starving
// pool reports every sample, and a log of dumps would bury the first one.
constexpr std::int64_t kDumpEveryNs = 10'000'000'000;

const char* kind_of(const TaskState& task, const Runtime& runtime) {
  if (task.executor() != nullptr && task.executor() == &const_cast<Runtime&>(runtime).io()) return "io";
  return typeid(task) == typeid(PythonTaskState) ? "python" : "native";
}

void log_trace_error(const std::string& message) {
  if (python_exiting()) return;
  ScopedGil gil;
  try {
    py::module_::import("logging").attr("getLogger")("dftracer.utils.trace").attr("error")("%s", message);
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable("dftracer.utils trace error logging");
  }
}

}  // namespace

py::list task_dump_entries(Runtime& runtime) {
  py::list out;
  for (const TaskDumpEntry& e : runtime.dump_tasks()) {
    py::dict d;
    d["task_id"] = e.id;
    d["name"] = e.name;
    d["state"] = std::string(to_string(e.status));
    d["kind"] = kind_of(*e.task, runtime);
    d["worker"] = e.worker.empty() ? py::object(py::none()) : py::object(py::str(e.worker));
    d["temporary_worker"] = e.temporary_worker;
    d["running_s"] = static_cast<double>(e.running_ns) / 1e9;
    d["blocked"] = e.blocked;
    d["waiting_on"] = e.waiting_on ? py::object(py::int_(e.waiting_on)) : py::object(py::none());
    py::object ident = py::none();
    py::object inline_id = py::none();
    if (const auto* py_task = dynamic_cast<const PythonTaskState*>(e.task.get())) {
      if (unsigned long t = py_task->running_thread_ident()) ident = py::int_(t);
      if (const PythonTaskState* inner = py_task->inline_inner()) inline_id = py::int_(inner->id());
    }
    d["thread_ident"] = ident;
    d["inline_task_id"] = inline_id;
    out.append(std::move(d));
  }
  return out;
}

void log_watchdog_events_with_dump(Runtime& runtime, std::atomic<std::int64_t>& last_dump_ns,
                                   const std::vector<WatchdogEvent>& events) {
  if (python_exiting()) return;
  bool dump = false;
  for (const WatchdogEvent& e : events) {
    if (!e.with_dump) continue;
    bool long_task = e.message.find("running longer than") != std::string::npos;
    std::int64_t now = now_ns();
    // Only this callback thread writes it.
    std::int64_t last = last_dump_ns.load(std::memory_order_relaxed);
    if (long_task || last == 0 || now - last >= kDumpEveryNs) {
      dump = true;
      if (!long_task) last_dump_ns.store(now, std::memory_order_relaxed);
    }
  }
  ScopedGil gil;
  try {
    py::object logger = py::module_::import("logging").attr("getLogger")("dftracer.utils");
    // The dump goes into the record of the first event that asked for one:
    // one record per report, the dump under it.
    bool dumped = false;
    for (const WatchdogEvent& e : events) {
      std::string message = e.message;
      if (dump && e.with_dump && !dumped) {
        dumped = true;
        py::object text =
            py::module_::import("dftracer.utils.task_dump").attr("_watchdog_dump_text")(task_dump_entries(runtime));
        message += "\n" + text.cast<std::string>();
      }
      logger.attr(e.level == WatchdogEvent::Level::warning ? "warning" : "info")("%s", message);
    }
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable("dftracer.utils watchdog logging");
  }
}

void register_tracing(py::module_& m) {
  set_trace_kind_classifier(
      [](const std::type_info& t) -> const char* { return t == typeid(PythonTaskState) ? "python" : nullptr; });
  auto cls = py::reinterpret_borrow<py::class_<NativeRuntime>>(m.attr("_NativeRuntime"));
  cls.def(
         "start_trace",
         [](NativeRuntime& self, const std::string& path, double flush_interval_ms) {
           Runtime& rt = self.runtime();
           TraceOptions o;
           o.path = path;
           if (flush_interval_ms > 0) {
             o.flush_interval = std::chrono::milliseconds(static_cast<std::int64_t>(flush_interval_ms));
           }
           // A write error later: logged once, on the callback thread (it
           // may run Python; the writer thread never does).
           o.on_error = [&rt](const std::string& message) {
             rt.callbacks().post([message] { log_trace_error(message); });
           };
           try {
             rt.start_trace(std::move(o));
           } catch (const TraceError& e) {
             PyErr_SetString(PyExc_OSError, e.what());
             throw py::error_already_set();
           }
         },
         py::arg("path"), py::arg("flush_interval_ms") = 0.0,
         "Starts writing the timeline to path (gzip when it ends in .gz); OSError when it cannot be written.")
      .def(
          "stop_trace",
          [](NativeRuntime& self) -> py::object {
            Runtime& rt = self.runtime();
            TraceSummary s = without_gil([&] { return rt.stop_trace(); });
            if (s.path.empty()) return py::none();
            py::dict d;
            d["path"] = s.path;
            d["events"] = s.events;
            d["dropped"] = s.dropped;
            d["error"] = s.error.empty() ? py::object(py::none()) : py::object(py::str(s.error));
            return d;
          },
          "Finishes the trace file; a summary dict (path, events, dropped, error), or None when not tracing.")
      .def_property_readonly(
          "tracing", [](NativeRuntime& self) { return self.runtime().tracing(); },
          "True while a trace is written (False after a write error).")
      .def_property_readonly(
          "trace_path",
          [](NativeRuntime& self) -> py::object {
            std::string p = self.runtime().trace_path();
            return p.empty() ? py::object(py::none()) : py::object(py::str(p));
          },
          "The file being traced to, or None.")
      .def(
          "dump_tasks", [](NativeRuntime& self) { return task_dump_entries(self.runtime()); },
          "One dict per running task: where it runs, for how long, what it waits on, the Python thread running it.");
  m.def(
      "_bench_native_tasks",
      [](NativeRuntime& self, std::size_t n) {
        Runtime& rt = self.runtime();
        return without_gil([&] {
          // Submit n no-op C++ tasks from this thread, then wait for each:
          // the native side of `bench --trace` (trace on and off).
          std::vector<TaskHandle<void>> handles;
          handles.reserve(n);
          auto t0 = std::chrono::steady_clock::now();
          for (std::size_t i = 0; i < n; ++i) handles.push_back(rt.submit([] {}, "native-noop"));
          for (auto& h : handles) h.wait();
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
      },
      py::arg("runtime"), py::arg("n"), "Seconds to submit and finish n no-op native tasks (a benchmark).");
}

}  // namespace dftracer::utils::python
