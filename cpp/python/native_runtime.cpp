// _NativeRuntime bindings (see native_runtime.hpp).
#include "native_runtime.hpp"

#include <pybind11/stl.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <unistd.h>

#include "durations.hpp"
#include "exceptions.hpp"
#include "gil.hpp"
#include "pending_admission.hpp"
#include "plain_method.hpp"
#include "runtime_reaper.hpp"
#include "task_handle_factory.hpp"
#include "task_kinds.hpp"
#include "task_naming.hpp"
#include "tracing.hpp"
#include "waiting.hpp"

namespace dftracer::utils::python {

namespace {

// How many child ids a task entry lists at most (the oldest first).
constexpr std::size_t kMaxChildrenListed = 64;

using ChildrenMap = std::unordered_map<std::uint64_t, std::vector<std::uint64_t>>;

py::dict task_entry(const TaskSnapshot& s, std::int64_t now, const ChildrenMap& children) {
  py::dict d;
  d["task_id"] = s.id;
  d["name"] = s.name;
  d["state"] = std::string(to_string(s.status));
  std::int64_t queued_until = s.start_ns ? s.start_ns : (s.end_ns ? s.end_ns : now);
  d["queued_duration_ms"] = ms_between_ns(s.submit_ns, queued_until);
  d["execution_duration_ms"] = s.start_ns ? ms_between_ns(s.start_ns, s.end_ns ? s.end_ns : now) : 0.0;
  double pct;
  if (s.total_subtasks > 0) {
    pct = 100.0 * static_cast<double>(s.completed_subtasks) / static_cast<double>(s.total_subtasks);
    if (pct > 100.0) pct = 100.0;
  } else {
    pct = s.status == TaskStatus::completed ? 100.0 : 0.0;
  }
  d["progress_pct"] = pct;
  d["total_subtasks"] = s.total_subtasks;
  d["completed_subtasks"] = s.completed_subtasks;
  d["location"] = s.location ? s.location : "";
  d["parent_id"] = s.parent_id ? py::object(py::int_(s.parent_id)) : py::object(py::none());
  py::list kids;
  if (auto it = children.find(s.id); it != children.end()) {
    for (std::uint64_t id : it->second) kids.append(id);
  }
  d["children"] = kids;
  return d;
}

// Each listed task's children among the tasks this snapshot holds (live
// and recently finished ones): derived here, from the parent ids recorded
// at submit, so submitting keeps no list. Sorted, at most kMaxChildrenListed.
ChildrenMap children_of(const std::vector<TaskSnapshot>& recent, const std::vector<TaskSnapshot>& live) {
  ChildrenMap map;
  for (const auto* list : {&recent, &live}) {
    for (const auto& s : *list) {
      if (s.parent_id) map[s.parent_id].push_back(s.id);
    }
  }
  for (auto& [parent, ids] : map) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.size() > kMaxChildrenListed) ids.resize(kMaxChildrenListed);
  }
  return map;
}

// Watchdog hooks: run on the runtime's callback thread, which takes the GIL
// for them (never the watchdog thread: a logging handler is user code); the
// logging one is log_watchdog_events_with_dump (tracing.cpp).
void interrupt_timed_out_task(TaskState& task) {
  auto* py_task = dynamic_cast<PythonTaskState*>(&task);
  if (!py_task || python_exiting()) return;
  ScopedGil gil;
  py_task->interrupt(timeout_error_type().ptr());
}

// A task forked and the child returned from it to the worker loop: flush
// Python's own buffers, then end the child as Python ends one whose forking
// (non-main) thread finished: status 0, no atexit hooks (the parent's).
[[noreturn]] void end_forked_child_process() {
  if (!python_exiting()) {
    ScopedGil gil;
    survive_finalization([] {
      for (const char* stream : {"stdout", "stderr"}) {
        PyObject* f = PySys_GetObject(stream);  // borrowed
        if (f && f != Py_None) {
          PyObject* r = PyObject_CallMethod(f, "flush", nullptr);
          Py_XDECREF(r);
          PyErr_Clear();
        }
      }
    });
  }
  std::fflush(nullptr);
  _exit(0);
}

const char* activity_name(WorkerActivity a) {
  switch (a) {
    case WorkerActivity::idle:
      return "idle";
    case WorkerActivity::running:
      return "running";
    case WorkerActivity::parked:
      return "parked";
    case WorkerActivity::blocked:
      return "blocked";
    case WorkerActivity::retired:
      return "retired";
  }
  return "unknown";
}
}  // namespace

NativeRuntime::NativeRuntime(RuntimeOptions options, std::size_t python_threads, bool caller_runs)
    : permits_(std::make_shared<PythonPermits>(static_cast<std::uint32_t>(python_threads))), caller_runs_(caller_runs) {
  options.on_worker_exit = &release_worker_thread_state;
  options.on_forked_child = &end_forked_child_process;
  runtime_ = without_gil([&] { return std::make_unique<Runtime>(options); });
  if (Watchdog* dog = runtime_->watchdog()) {
    // The runtime outlives its watchdog and callback thread, which run this.
    auto last_dump = std::make_shared<std::atomic<std::int64_t>>(0);
    dog->set_hooks(
        {&interrupt_timed_out_task, [rt = runtime_.get(), last_dump](const std::vector<WatchdogEvent>& events) {
           log_watchdog_events_with_dump(*rt, *last_dump, events);  // tracing.cpp
         }});
  }
}

void NativeRuntime::set_default_task_timeout(py::handle timeout) {
  runtime_->set_default_task_timeout(duration_from_python(timeout, "task timeout"));
}

void NativeRuntime::set_timeout(py::handle timeout) {
  if (!runtime_->watchdog()) throw std::logic_error("set_timeout needs the watchdog (watchdog_interval > 0)");
  runtime_->set_timeout(duration_from_python(timeout, "timeout"));
}

NativeRuntime::~NativeRuntime() {
  if (!runtime_) return;
  if (Runtime::current() == runtime_.get()) {
    // Dropped on one of its own threads (inside a task or an error
    // callback): it cannot join itself here. A reaper thread waits for that
    // to end and tears the runtime down.
    reap_elsewhere(std::move(runtime_));
    return;
  }
  if (python_exiting()) {
    // Deallocated during interpreter exit (the exit hook was interrupted,
    // say by a second Ctrl-C): never wait here for tasks that may never end;
    // leave them behind if anything still runs.
    if (!runtime_->drain_for(std::chrono::nanoseconds(0))) {
      abandon();
      return;
    }
  }
  without_gil([&] { runtime_.reset(); });
}

Runtime& NativeRuntime::rt() const {
  if (!runtime_) {
    throw std::runtime_error(
        "this dftracer.utils Runtime was abandoned (its threads were left behind at interpreter exit, or "
        "do not exist after os.fork()); create a new Runtime");
  }
  return *runtime_;
}

void NativeRuntime::abandon() noexcept {
  if (runtime_) note_abandoned(runtime_.get());
  (void)runtime_.release();
  // The permits stay: tasks share them.
}

TaskStateRef NativeRuntime::make_python_task(py::handle fn, py::tuple args, py::handle kwargs, std::string name) const {
  // An empty kwargs dict is not kept: the call then passes none.
  py::object kw = PyDict_GET_SIZE(kwargs.ptr()) ? py::reinterpret_borrow<py::object>(kwargs) : py::none();
  auto* state = new PythonTaskState(py::reinterpret_borrow<py::object>(fn), std::move(args), std::move(kw),
                                    std::move(name), permits_);
  TaskStateRef ref = TaskStateRef::adopt(state);
  if (!caller_runs_) state->forbid_caller_runs();
  return ref;
}

py::object NativeRuntime::submit_python(py::handle fn, py::tuple args, py::dict kwargs, py::handle name, bool io,
                                        std::optional<double> room_timeout) {
  // The one place submit's arguments are checked (runtime.py does not):
  // the name first, whatever is submitted.
  if (!name.is_none() && !PyUnicode_CheckExact(name.ptr())) {
    throw py::type_error(std::string("name must be a str, not ") + Py_TYPE(name.ptr())->tp_name);
  }
  // Not callable: maybe a handle to pass through; the Python layer decides.
  if (!PyCallable_Check(fn.ptr())) return py::none();
  TaskName task_name = submit_task_name(fn, name);
  TaskStateRef ref = make_python_task(fn, std::move(args), kwargs, std::move(task_name.text));
  // No GIL release here: submitting is a few hundred nanoseconds and never
  // blocks on Python; releasing would cost more than it saves. (Only a
  // max_pending wait blocks, and it releases the GIL itself.)
  admit_python(rt(), room_timeout);  // max_pending; waits with the GIL released
  rt().submit_state(*ref, io ? Pool::io : Pool::compute, Admission::admitted);
  return make_task_handle(py::cast(NativeHandle{std::move(ref)}), task_name.str);
}

namespace {
// The full path, for what submit_python_fast does not take on.
PyObject* submit_python_full(PyObject* self, PyObject* const* argv, Py_ssize_t argc) {
  static PyObject* const kFull = PyUnicode_InternFromString("_submit_python_full");  // leaked, like the module
  PyObject* call[6];
  if (argc > 5) {
    PyErr_Format(PyExc_TypeError, "submit_python() takes at most 5 arguments (%zd given)", argc);
    return nullptr;
  }
  call[0] = self;
  for (Py_ssize_t i = 0; i < argc; ++i) call[i + 1] = argv[i];
  return PyObject_VectorcallMethod(kFull, call, static_cast<std::size_t>(argc) + 1, nullptr);
}
}  // namespace

PyObject* NativeRuntime::submit_python_fast(PyObject* self, PyObject* const* argv, Py_ssize_t argc) {
  if (argc != 4) return submit_python_full(self, argv, argc);  // the io pool, or a wrong call
  PyObject* fn = argv[0];
  PyObject* args = argv[1];
  PyObject* kwargs = argv[2];
  PyObject* name = argv[3];
  if (!PyTuple_CheckExact(args) || !PyDict_CheckExact(kwargs) || (name != Py_None && !PyUnicode_CheckExact(name)) ||
      !PyCallable_Check(fn)) {
    return submit_python_full(self, argv, argc);
  }
  TaskStateRef ref;
  TaskName task_name;
  try {
    // The method descriptor admits only _NativeRuntime instances.
    auto& native = py::handle(self).cast<NativeRuntime&>();
    if (native.abandoned() || native.rt().pending_limit().enabled()) return submit_python_full(self, argv, argc);
    task_name = submit_task_name(fn, name);
    ref = native.make_python_task(fn, py::reinterpret_borrow<py::tuple>(args), kwargs, std::move(task_name.text));
    native.rt().submit_state(*ref, Pool::compute, Admission::admitted);
  } catch (...) {
    // Refused (shut down) or out of memory before anything was queued: the
    // full path raises the right Python error (or submits, after a reopen).
    PyErr_Clear();
    return submit_python_full(self, argv, argc);
  }
  // Queued: from here on a failure must not submit again.
  try {
    return make_task_handle(py::cast(NativeHandle{std::move(ref)}), task_name.str).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    PyErr_NoMemory();
  }
  return nullptr;
}

bool NativeRuntime::wait_all(std::optional<double> timeout_s) {
  return python::wait_all(rt(), checked_timeout(timeout_s));
}

void NativeRuntime::shutdown(bool wait) {
  if (abandoned()) return;  // nothing of it is left to stop
  if (Runtime::current() == runtime_.get()) {
    throw std::logic_error(
        "shutdown() called from a thread of this runtime (one of its tasks or callbacks) would "
        "wait for itself");
  }
  if (rt().is_shut_down()) return;
  // Close first, then drain: other threads that keep submitting are refused
  // from now on, so the drain ends. The drain is interruptible (Ctrl-C); with
  // wait=false it cancels what is live before every slice, for the tasks
  // running ones submit meanwhile, and a cooperative task sees its token
  // before anyone waits for it.
  rt().close(/*everything=*/!wait);
  try {
    python::drain(rt(), std::nullopt, /*cancel=*/!wait);
  } catch (...) {
    // Interrupted (Ctrl-C): the shutdown did not happen, and the runtime
    // takes work again, as every other interrupted wait leaves it usable.
    rt().reopen();
    throw;
  }
  without_gil([&] { rt().shutdown(wait); });
}

bool NativeRuntime::drain(std::optional<double> timeout_s, bool cancel) {
  return python::drain(rt(), checked_timeout(timeout_s), cancel);
}

void NativeRuntime::set_error_callback(py::object callback) {
  if (callback.is_none()) {
    rt().set_failure_hook(nullptr);
    return;
  }
  auto holder = std::make_shared<GilSafeObject>(std::move(callback));
  rt().set_failure_hook([holder](TaskState& task) {
    if (python_exiting()) return;
    ScopedGil gil;
    try {
      survive_finalization([&] {
        FailureCallbackScope scope(&task);
        NativeHandle handle{TaskStateRef::share(&task)};
        holder->obj(py::cast(std::move(handle)), exception_for(task));
      });
    } catch (py::error_already_set& e) {
      // The Python wrapper logs callback errors itself; this only catches
      // what escaped it (e.g. a failing logging handler).
      e.discard_as_unraisable("dftracer.utils error callback");
    } catch (const std::exception&) {}
  });
}

py::dict NativeRuntime::progress(std::size_t max_tasks, bool include_recent) const {
  Registry& reg = rt().registry();
  RegistryTotals t = reg.totals();
  std::vector<TaskSnapshot> live = reg.live(max_tasks);
  std::vector<TaskSnapshot> recent = include_recent ? reg.recent() : std::vector<TaskSnapshot>{};
  std::vector<ErrorRecord> errors = reg.errors();
  std::vector<Executor::WorkerView> compute = rt().compute().workers_view();
  std::vector<Executor::WorkerView> io = rt().io().workers_view();
  std::int64_t now = now_ns();

  // `running` counts the tasks a worker is executing now: one per worker
  // that is not blocked (a temporary worker starts only while another is
  // blocked, so this stays within threads + io_threads but for the moment a
  // temporary worker finishes the task it took). A task that started and has not finished but
  // is on no worker's slot, or on a slot marked blocked, waits: for a task
  // it waits on (get()/wait() inside a task; the worker may be running that
  // task inline meanwhile), or it is a native coroutine between steps. Those
  // are `blocked`. Totals and slots are read at slightly different moments:
  // the two are clamped so they always add up to the started, unfinished
  // tasks.
  std::unordered_set<std::uint64_t> executing;
  for (const auto* pool : {&compute, &io}) {
    for (const auto& w : *pool) {
      if (w.task_id != 0 && w.activity != WorkerActivity::blocked) executing.insert(w.task_id);
    }
  }
  std::uint64_t started = t.running;
  std::uint64_t running = std::min<std::uint64_t>(executing.size(), started);

  py::dict d;
  d["total"] = t.submitted;
  d["completed"] = t.completed;
  d["running"] = running;
  d["blocked"] = started - running;
  d["queued"] = t.queued;
  d["failed"] = t.failed + t.timed_out;
  d["cancelled"] = t.cancelled;
  d["timed_out"] = t.timed_out;

  auto worker_list = [&](const std::vector<Executor::WorkerView>& views, const char* pool) {
    py::list out;
    for (const auto& w : views) {
      py::dict wd;
      wd["id"] = w.index;
      wd["pool"] = pool;
      wd["idle"] = w.task_id == 0;
      wd["task"] = w.display_name();
      wd["queue_depth"] = w.queue_depth;
      wd["state"] = activity_name(w.activity);
      wd["tasks_run"] = w.tasks_run;
      wd["temporary"] = w.temporary;
      wd["busy_ms"] = w.task_id ? ms_between_ns(w.task_since_ns, now) : 0.0;
      out.append(std::move(wd));
    }
    return out;
  };
  d["workers"] = worker_list(compute, "compute");
  d["io_workers"] = worker_list(io, "io");
  // Tasks that threads outside the pools run while they wait for them
  // (caller runs): not workers, but running all the same.
  py::list callers;
  for (const auto& c : rt().callers_view()) {
    py::dict cd;
    cd["id"] = c.index;
    cd["task_id"] = c.task_id;
    cd["task"] = c.task_name;
    cd["busy_ms"] = ms_between_ns(c.task_since_ns, now);
    callers.append(std::move(cd));
  }
  d["callers"] = callers;

  ChildrenMap children = children_of(recent, live);
  py::list tasks;
  for (const auto& s : recent) tasks.append(task_entry(s, now, children));
  for (const auto& s : live) tasks.append(task_entry(s, now, children));
  d["tasks"] = tasks;
  d["tasks_truncated"] = live.size() >= max_tasks && (t.queued + t.running) > live.size();

  py::list errs;
  for (const auto& e : errors) {
    py::dict ed;
    ed["task_id"] = e.task_id;
    ed["name"] = e.task_name;
    ed["state"] = std::string(to_string(e.status));
    ed["message"] = e.message;
    errs.append(std::move(ed));
  }
  d["errors"] = errs;

  py::dict dog;
  Watchdog* w = runtime_->watchdog();
  dog["enabled"] = w != nullptr;
  dog["responsive"] = runtime_->is_responsive();
  dog["stalled"] = w ? w->stalled() : false;
  dog["global_timeout_expired"] = w ? w->global_timeout_expired() : false;
  dog["temporary_workers_added"] = w ? w->temporary_workers_added() : 0;
  dog["temporary_workers_live"] = runtime_->compute().temporary_workers_live();
  dog["tasks_timed_out"] = w ? w->tasks_timed_out() : 0;
  d["watchdog"] = dog;
  return d;
}

void register_native_runtime(py::module_& m) {
  // The option defaults (runtime_defaults.hpp), for dftracer.utils.Runtime's
  // signature: durations in milliseconds.
  py::dict table;
  table["recent_tasks"] = defaults::kRecentTasks;
  table["watchdog_interval"] = defaults::kWatchdogInterval.count();
  table["stall_threshold"] = defaults::kStallThreshold.count();
  table["starvation_threshold"] = defaults::kStarvationThreshold.count();
  table["long_task_threshold"] = defaults::kLongTaskThreshold.count();
  table["max_temporary_workers"] = defaults::kMaxTemporaryWorkers;
  table["max_pending"] = defaults::kMaxPending;
  m.attr("DEFAULTS") = table;
  py::class_<NativeRuntime>(m, "_NativeRuntime", "The C++ runtime behind dftracer.utils.Runtime.")
      .def(py::init([](std::size_t threads, std::size_t io_threads, std::size_t python_threads,
                       std::size_t recent_capacity, py::handle interval, py::handle stall, py::handle starvation,
                       py::handle long_task, std::size_t max_temporary_workers, std::size_t max_pending,
                       bool caller_runs) {
             RuntimeOptions o;
             auto ms = [](py::handle v, const char* what) {
               return std::chrono::duration_cast<std::chrono::milliseconds>(duration_from_python(v, what));
             };
             o.threads = threads;
             o.io_threads = io_threads;
             o.registry.recent_capacity = recent_capacity;
             o.watchdog.interval = ms(interval, "watchdog_interval");
             o.watchdog.stall_threshold = ms(stall, "stall_threshold");
             o.watchdog.starvation_threshold = ms(starvation, "starvation_threshold");
             o.watchdog.long_task_threshold = ms(long_task, "long_task_threshold");
             o.max_temporary_workers = max_temporary_workers;
             o.max_pending = max_pending;
             return std::make_unique<NativeRuntime>(std::move(o), python_threads, caller_runs);
           }),
           py::arg("threads") = 0, py::arg("io_threads") = 0, py::arg("python_threads") = 0,
           py::arg("recent_capacity") = defaults::kRecentTasks,
           py::arg("watchdog_interval") = defaults::kWatchdogInterval.count(),
           py::arg("stall_threshold") = defaults::kStallThreshold.count(),
           py::arg("starvation_threshold") = defaults::kStarvationThreshold.count(),
           py::arg("long_task_threshold") = defaults::kLongTaskThreshold.count(),
           py::arg("max_temporary_workers") = defaults::kMaxTemporaryWorkers,
           py::arg("max_pending") = defaults::kMaxPending, py::arg("caller_runs") = true)
      .def("set_default_task_timeout", &NativeRuntime::set_default_task_timeout, py::arg("timeout"))
      .def("set_timeout", &NativeRuntime::set_timeout, py::arg("timeout"))
      .def(
          "_submit_python_full",
          [](NativeRuntime& self, py::handle fn, py::tuple args, py::dict kwargs, py::handle name, bool io) {
            return self.submit_python(fn, std::move(args), std::move(kwargs), name, io);
          },
          py::arg("fn"), py::arg("args"), py::arg("kwargs"), py::arg("name"), py::arg("io") = false,
          "submit_python's full path: every check, max_pending, the io pool.")
      .def("wait_all", &NativeRuntime::wait_all, py::arg("timeout") = py::none())
      .def("shutdown", &NativeRuntime::shutdown, py::arg("wait") = true)
      .def("set_error_callback", &NativeRuntime::set_error_callback, py::arg("callback"))
      .def("progress", &NativeRuntime::progress, py::arg("max_tasks") = 1000, py::arg("recent") = true)
      .def("is_responsive", &NativeRuntime::is_responsive)
      .def("failed",
           [](NativeRuntime& self) {
             std::vector<NativeHandle> out;
             for (auto& r : self.runtime().registry().failed()) out.push_back(NativeHandle{r});
             return out;
           })
      .def("clear_failed", [](NativeRuntime& self) { self.runtime().registry().clear_failed(); })
      .def("take_unreported_failures",
           [](NativeRuntime& self) {
             // (name, "Type: message") per failure since the previous call, and
             // how many more there were than the registry keeps.
             auto taken = self.runtime().registry().take_unreported_failures();
             py::list records;
             for (auto& r : taken.records) records.append(py::make_tuple(r.task_name, r.message));
             return py::make_tuple(records, taken.dropped);
           })
      .def(
          "owns",
          [](NativeRuntime& self, const NativeHandle& h) {
            return h.state->host() == static_cast<TaskHost*>(&self.runtime());
          },
          py::arg("handle"), "True when the handle's task was submitted to this runtime.")
      .def("abandon", &NativeRuntime::abandon)
      .def(
          "cancel_pending", [](NativeRuntime& self) { return self.runtime().cancel_live(); },
          "Cancels every queued task and sets the cancel token of running ones; returns how many were cancelled.")
      .def(
          "close", [](NativeRuntime& self, bool everything) { self.runtime().close(everything); },
          py::arg("everything"), "Refuses new work from outside (everything=True: from anywhere) from now on.")
      .def("drain", &NativeRuntime::drain, py::arg("timeout") = py::none(), py::arg("cancel") = false,
           "Waits (interruptibly) until nothing is active and no body runs; True when drained in time.")
      .def_property_readonly("threads", [](NativeRuntime& self) { return self.runtime().threads(); })
      .def_property_readonly("io_threads", [](NativeRuntime& self) { return self.runtime().io_threads(); })
      .def_property_readonly("python_threads", &NativeRuntime::python_threads)
      .def_property_readonly(
          "is_shut_down", [](NativeRuntime& self) { return self.abandoned() || self.runtime().is_shut_down(); },
          "True once shut down or abandoned.")
      .def_property_readonly("active", [](NativeRuntime& self) { return self.runtime().active(); })
      .def_property_readonly(
          "runtime_id", [](NativeRuntime& self) { return reinterpret_cast<std::uintptr_t>(&self.runtime()); },
          "Identifies the C++ runtime for the life of the process (what current_runtime_id() answers on its "
          "workers).");
  // The hot path as a plain fast-call method (NativeRuntime::submit_python_fast).
  // The docstring's first line is its signature for inspect and stubtest.
  static PyMethodDef submit_def = {
      "submit_python", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&NativeRuntime::submit_python_fast)),
      METH_FASTCALL,
      "submit_python($self, fn, args, kwargs, name, io=False, /)\n--\n\n"
      "Submits fn(*args, **kwargs); returns a dftracer.utils.TaskHandle, or None when fn is not callable."};
  add_plain_method(m.attr("_NativeRuntime"), &submit_def);
}

}  // namespace dftracer::utils::python
