// Implementation of the C ABI (see cpp/include/dftracer/utils/c_api.h).
//
// A foreign task is a ForeignTaskState (task_kinds.hpp): a C run function
// plus its context. No C++ exception ever crosses the table: every entry
// catches and returns a status; messages go to c_api_last_error().
//
// The 1.1 combinators (when_all, when_any) are ForeignTaskStates too, whose
// run function only says "pending": they are completed from the inputs'
// completion (an AwaitNode on each input), so no worker waits for them.
#include "c_api_export.hpp"

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "dftracer/utils/c_api.h"
#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/runtime.hpp"
#include "gil.hpp"
#include "native_handle.hpp"
#include "native_runtime.hpp"
#include "pending_admission.hpp"
#include "task_kinds.hpp"

namespace dftracer::utils::python {

namespace {

dft_status fail(dft_status status, std::string message) {
  c_api_last_error() = std::move(message);
  return status;
}

dft_status already_complete(TaskState& task) {
  return fail(DFT_ERROR, "task '" + task.name() + "' is already complete");
}

TaskState* as_state(dft_task* task) { return reinterpret_cast<TaskState*>(task); }
ForeignTaskState* as_foreign(dft_task* task) { return dynamic_cast<ForeignTaskState*>(as_state(task)); }

// Every entry point goes through this: no exception crosses the ABI.
template <class F>
dft_status guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const RuntimeShutdownError& e) {
    return fail(DFT_SHUT_DOWN, e.what());
  } catch (const py::error_already_set& e) {
    return fail(DFT_ERROR, e.what());
  } catch (const std::exception& e) {
    return fail(DFT_ERROR, e.what());
  } catch (...) {
    return fail(DFT_ERROR, "unknown C++ exception");
  }
}

#define DFT_REQUIRE(cond, what) \
  if (!(cond)) return fail(DFT_BAD_ARGUMENT, what)

// dftracer.utils.Runtime, registered at import (register_runtime_type).
PyObject* g_runtime_type = nullptr;

dft_status api_runtime_from_python(PyObject* obj, dft_runtime** out) {
  return guarded([&] {
    DFT_REQUIRE(out, "out is null");
    py::handle h(obj);
    py::object target;
    if (!obj || h.is_none()) {
      target = py::module_::import("dftracer.utils").attr("get_default_runtime")();
    } else {
      target = py::reinterpret_borrow<py::object>(h);
    }
    // The contract with the Python class: its _native_runtime() method.
    if (g_runtime_type && PyObject_IsInstance(target.ptr(), g_runtime_type) == 1) {
      target = target.attr("_native_runtime")();
    }
    if (!py::isinstance<NativeRuntime>(target)) {
      return fail(DFT_BAD_ARGUMENT, "expected a dftracer.utils.Runtime");
    }
    NativeRuntime& native = target.cast<NativeRuntime&>();
    if (native.runtime().is_shut_down()) return fail(DFT_SHUT_DOWN, "dftracer.utils runtime is shut down");
    *out = reinterpret_cast<dft_runtime*>(&native.runtime());
    return DFT_OK;
  });
}

dft_status api_submit(dft_runtime* runtime, const char* name, dft_pool pool, dft_run_fn run, void* context,
                      dft_destroy_fn destroy, dft_task** out) {
  if (!runtime || !run || !out || (pool != DFT_POOL_COMPUTE && pool != DFT_POOL_IO)) {
    if (destroy) destroy(context);
    return fail(DFT_BAD_ARGUMENT, "submit needs a runtime, a run function, an out pointer and a known pool");
  }
  auto* state = new ForeignTaskState(name ? name : "", run, context, destroy);
  TaskStateRef ref = TaskStateRef::adopt(state);
  dft_status st = guarded([&] {
    Runtime& rt = *reinterpret_cast<Runtime*>(runtime);
    admit_foreign(rt);  // max_pending: waits with the GIL released
    rt.submit_state(*state, pool == DFT_POOL_IO ? Pool::io : Pool::compute, Admission::admitted);
    return DFT_OK;
  });
  if (st != DFT_OK) return st;  // ref's destructor frees the state and its context
  state->add_ref();
  *out = reinterpret_cast<dft_task*>(static_cast<TaskState*>(state));
  return DFT_OK;
}

dft_status api_report_progress(dft_task* task, std::uint64_t completed, std::uint64_t total) {
  DFT_REQUIRE(task, "task is null");
  as_state(task)->set_total_subtasks(total);
  as_state(task)->set_completed_subtasks(completed);
  return DFT_OK;
}

dft_status api_cancel_requested(dft_task* task, int* out) {
  DFT_REQUIRE(task && out, "task or out is null");
  *out = as_state(task)->cancel_requested() ? 1 : 0;
  return DFT_OK;
}

// Every completion of a foreign task goes through here. The completer's
// dft_task* is borrowed: the last reference (a handle whose get() this
// completion releases) may go while the task's finishing steps still run
// here, so they run under a reference of our own.
template <class Complete>
dft_status complete_foreign(dft_task* task, Complete&& complete) {
  DFT_REQUIRE(task, "task is null");
  ForeignTaskState* f = as_foreign(task);
  DFT_REQUIRE(f, "task was not submitted through the C ABI");
  TaskStateRef keep = TaskStateRef::share(f);
  return guarded([&] { return complete(*f) ? DFT_OK : already_complete(*f); });
}

template <class V>
dft_status complete_value(dft_task* task, V value) {
  return complete_foreign(task, [&](ForeignTaskState& f) { return f.complete_with(std::move(value)); });
}

dft_status api_complete_none(dft_task* task) { return complete_value(task, std::monostate{}); }
dft_status api_complete_int64(dft_task* task, std::int64_t v) { return complete_value(task, v); }
dft_status api_complete_double(dft_task* task, double v) { return complete_value(task, v); }
dft_status api_complete_bytes(dft_task* task, const void* data, std::size_t size) {
  DFT_REQUIRE(data || size == 0, "data is null");
  return complete_value(task, ForeignTaskState::Bytes{std::string(static_cast<const char*>(data), size)});
}
dft_status api_complete_string(dft_task* task, const char* utf8, std::size_t size) {
  DFT_REQUIRE(utf8 || size == 0, "utf8 is null");
  return complete_value(task, ForeignTaskState::Text{std::string(utf8, size)});
}
dft_status api_complete_object(dft_task* task, PyObject* value) {
  DFT_REQUIRE(task && value, "task or value is null");
  return complete_foreign(task, [&](ForeignTaskState& f) { return f.complete_object(value); });
}
dft_status api_complete_error(dft_task* task, const char* message) {
  return complete_foreign(task, [&](ForeignTaskState& f) { return f.complete_error(message); });
}

dft_status final_status(TaskState& s) {
  switch (s.status()) {
    case TaskStatus::cancelled:
      return DFT_CANCELLED;
    default:
      return DFT_OK;
  }
}

dft_status api_wait(dft_task* task, double timeout_s) {
  DFT_REQUIRE(task, "task is null");
  return guarded([&] {
    TaskState& s = *as_state(task);
    if (timeout_s < 0) {
      s.wait();
    } else if (!s.wait_for(
                   std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout_s)))) {
      return fail(DFT_TIMED_OUT, "task '" + s.name() + "' did not finish in time");
    }
    return final_status(s);
  });
}

dft_status api_cancel(dft_task* task, int* was_queued) {
  DFT_REQUIRE(task, "task is null");
  return guarded([&] {
    bool cancelled = as_state(task)->cancel();
    if (was_queued) *was_queued = cancelled ? 1 : 0;
    return DFT_OK;
  });
}

// The C enum mirrors TaskStatus value for value (api_get_state casts).
static_assert(static_cast<int>(TaskStatus::queued) == DFT_TASK_QUEUED);
static_assert(static_cast<int>(TaskStatus::running) == DFT_TASK_RUNNING);
static_assert(static_cast<int>(TaskStatus::completed) == DFT_TASK_COMPLETED);
static_assert(static_cast<int>(TaskStatus::failed) == DFT_TASK_FAILED);
static_assert(static_cast<int>(TaskStatus::cancelled) == DFT_TASK_CANCELLED);
static_assert(static_cast<int>(TaskStatus::timed_out) == DFT_TASK_TIMED_OUT);

dft_status api_get_state(dft_task* task, dft_task_state* out) {
  DFT_REQUIRE(task && out, "task or out is null");
  *out = static_cast<dft_task_state>(as_state(task)->status());
  return DFT_OK;
}

dft_status api_get_error(dft_task* task, char* buffer, std::size_t size) {
  DFT_REQUIRE(task && buffer && size > 0, "task or buffer is null");
  TaskState& s = *as_state(task);
  if (!s.done()) return fail(DFT_ERROR, "task '" + s.name() + "' is not finished");
  std::string message = describe_error(s.error());
  std::size_t n = message.size() < size - 1 ? message.size() : size - 1;
  std::memcpy(buffer, message.data(), n);
  buffer[n] = '\0';
  return DFT_OK;
}

dft_status api_get_int64(dft_task* task, std::int64_t* out) {
  DFT_REQUIRE(task && out, "task or out is null");
  ForeignTaskState* f = as_foreign(task);
  DFT_REQUIRE(f && f->status() == TaskStatus::completed && f->get_int64(*out), "no int64 result");
  return DFT_OK;
}

dft_status api_get_double(dft_task* task, double* out) {
  DFT_REQUIRE(task && out, "task or out is null");
  ForeignTaskState* f = as_foreign(task);
  DFT_REQUIRE(f && f->status() == TaskStatus::completed && f->get_double(*out), "no double result");
  return DFT_OK;
}

struct DoneCallback : TaskState::AwaitNode {
  dft_done_fn fn;
  void* arg;
};

dft_status api_add_done_callback(dft_task* task, dft_done_fn fn, void* arg) {
  DFT_REQUIRE(task && fn, "task or fn is null");
  return guarded([&] {
    auto* node = new DoneCallback();
    node->fn = fn;
    node->arg = arg;
    node->notify = [](TaskState::AwaitNode* self) {
      auto* cb = static_cast<DoneCallback*>(self);
      cb->fn(cb->arg);
      delete cb;
    };
    if (!as_state(task)->add_awaiter(node)) {  // already final: call now
      delete node;
      fn(arg);
    }
    return DFT_OK;
  });
}

// ---- 1.1: when_all / when_any --------------------------------------------

// Shared by the nodes registered on the inputs (each holds a reference), so
// it lives until the last input has signalled, whatever the combined task's
// own references do.
struct Combiner {
  bool any = false;
  std::atomic<std::size_t> remaining{0};  // when_all: inputs not final yet
  std::atomic<std::int64_t> unsuccessful{0};
  std::atomic<bool> fired{false};  // when_any: a winner was seen
  // Only the one completer touches it (then drops it): the last input for
  // when_all, the first for when_any.
  TaskStateRef target;

  void complete(std::int64_t value) {
    auto* f = static_cast<ForeignTaskState*>(target.get());
    // Fails only when the combined task was already final (cancelled while
    // still queued, or timed out): then there is nothing to report.
    f->complete_with(value);
    target = TaskStateRef();
  }

  // On the thread that finished `input` (its finish() releases waiters).
  void on_final(TaskState& input, std::size_t index) {
    if (any) {
      // acq_rel: one winner; it alone touches target.
      if (!fired.exchange(true, std::memory_order_acq_rel)) complete(static_cast<std::int64_t>(index));
      return;
    }
    // relaxed: the count is read by the last input, after its acq_rel
    // decrement below, which orders every earlier increment before it.
    if (input.status() != TaskStatus::completed) unsuccessful.fetch_add(1, std::memory_order_relaxed);
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      complete(unsuccessful.load(std::memory_order_relaxed));
    }
  }
};

struct CombinerNode : TaskState::AwaitNode {
  std::shared_ptr<Combiner> combiner;
  TaskState* input = nullptr;  // alive during its own finish, when we run
  std::size_t index = 0;
};

dft_status run_pending(dft_task*, void*) { return DFT_PENDING; }

dft_status combine(dft_task* const* tasks, std::size_t n, dft_task** out, bool any) {
  const char* what = any ? "when_any" : "when_all";
  DFT_REQUIRE(out, "out is null");
  DFT_REQUIRE(tasks && n > 0, std::string(what) + " needs at least one task");
  Runtime* runtime = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    DFT_REQUIRE(tasks[i], std::string(what) + ": task " + std::to_string(i) + " is null");
    Runtime* r = dynamic_cast<Runtime*>(as_state(tasks[i])->host());
    DFT_REQUIRE(r, std::string(what) + ": task " + std::to_string(i) + " was never submitted");
    if (!runtime) runtime = r;
    DFT_REQUIRE(r == runtime, std::string(what) + ": the tasks belong to different runtimes");
  }
  return guarded([&] {
    auto* state = new ForeignTaskState(what, &run_pending, nullptr, nullptr);
    TaskStateRef ref = TaskStateRef::adopt(state);
    runtime->submit_state(*state, Pool::compute);  // throws RuntimeShutdownError when closed
    auto combiner = std::make_shared<Combiner>();
    combiner->any = any;
    combiner->remaining.store(n, std::memory_order_relaxed);
    combiner->target = ref;
    // Allocate every node before registering any, so a bad_alloc cannot
    // leave the combined task with only some inputs watching it.
    std::vector<std::unique_ptr<CombinerNode>> nodes;
    nodes.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto node = std::make_unique<CombinerNode>();
      node->combiner = combiner;
      node->input = as_state(tasks[i]);
      node->index = i;
      node->notify = [](TaskState::AwaitNode* self) {
        std::unique_ptr<CombinerNode> me(static_cast<CombinerNode*>(self));
        me->combiner->on_final(*me->input, me->index);
      };
      nodes.push_back(std::move(node));
    }
    combiner.reset();  // the nodes hold it now
    for (auto& node : nodes) {
      CombinerNode* raw = node.release();
      // Already final: signal now, on this thread.
      if (!raw->input->add_awaiter(raw)) raw->notify(raw);
    }
    *out = reinterpret_cast<dft_task*>(static_cast<TaskState*>(ref.get()));
    ref.get()->add_ref();  // the caller's reference
    return DFT_OK;
  });
}

dft_status api_when_all(dft_task* const* tasks, std::size_t n, dft_task** out) { return combine(tasks, n, out, false); }
dft_status api_when_any(dft_task* const* tasks, std::size_t n, dft_task** out) { return combine(tasks, n, out, true); }

dft_status api_to_python(dft_task* task, PyObject** out) {
  DFT_REQUIRE(task && out, "task or out is null");
  return guarded([&] {
    py::object handle = py::cast(NativeHandle{TaskStateRef::share(as_state(task))});
    *out = handle.release().ptr();
    return DFT_OK;
  });
}

dft_status api_retain(dft_task* task) {
  DFT_REQUIRE(task, "task is null");
  as_state(task)->add_ref();
  return DFT_OK;
}

void api_release(dft_task* task) {
  if (task) as_state(task)->release();
}

const char* api_last_error() { return c_api_last_error().c_str(); }

const dft_c_api kApi = {
    sizeof(dft_c_api),
    DFT_C_API_MAJOR,
    DFT_C_API_MINOR,
    &api_runtime_from_python,
    &api_submit,
    &api_report_progress,
    &api_cancel_requested,
    &api_complete_none,
    &api_complete_int64,
    &api_complete_double,
    &api_complete_bytes,
    &api_complete_string,
    &api_complete_object,
    &api_complete_error,
    &api_wait,
    &api_cancel,
    &api_get_state,
    &api_get_error,
    &api_get_int64,
    &api_get_double,
    &api_add_done_callback,
    &api_to_python,
    &api_retain,
    &api_release,
    &api_last_error,
    // 1.1
    &api_when_all,
    &api_when_any,
};

}  // namespace

void register_c_api(py::module_& m) {
  m.def(
      "register_runtime_type",
      [](py::handle type) {
        // Checked at import, not at an extension's first call: the C ABI
        // reaches a Runtime's engine through _native_runtime() only.
        if (!PyType_Check(type.ptr()) || !py::hasattr(type, "_native_runtime") ||
            !PyCallable_Check(type.attr("_native_runtime").ptr())) {
          throw py::type_error("dftracer.utils.Runtime must define _native_runtime() for the C ABI");
        }
        Py_XDECREF(g_runtime_type);
        g_runtime_type = type.ptr();
        Py_INCREF(g_runtime_type);
      },
      py::arg("cls"), "Called once by dftracer.utils.runtime: the class the C ABI's runtime_from_python accepts.");
  m.attr("_C_API") = py::capsule(const_cast<dft_c_api*>(&kApi), DFT_C_API_CAPSULE_NAME);
  m.attr("C_API_VERSION") = py::make_tuple(DFT_C_API_MAJOR, DFT_C_API_MINOR);
}

}  // namespace dftracer::utils::python
