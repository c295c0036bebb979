// Interruptible waits (see waiting.hpp).
#include "waiting.hpp"

#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <new>
#include <stdexcept>

#include "dftracer/utils/core/detail/cpu_relax.hpp"
#include "gil.hpp"
#include "python_permits.hpp"
#include "released_wait.hpp"
#include "task_kinds.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {
// How long a waiting thread leaves a queued task to a worker before it runs
// it itself (caller runs): about what a spinning worker needs to take it.
constexpr auto kCallerGrace = std::chrono::microseconds(5);

// Abandoned runtimes: a push-only list, never freed (there are a handful per
// process at most).
struct AbandonedNode {
  const TaskHost* runtime;
  AbandonedNode* next;
};
std::atomic<AbandonedNode*> g_abandoned{nullptr};

bool is_abandoned(const TaskHost* runtime) noexcept {
  for (AbandonedNode* n = g_abandoned.load(std::memory_order_acquire); n; n = n->next) {
    if (n->runtime == runtime) return true;
  }
  return false;
}

// GIL held, after a wait of the task running on this thread: a timeout that
// reached it while another task ran inline inside this wait is raised here,
// at the first point where its own code runs again.
void raise_held_interrupt() {
  PythonTaskState* self = PythonTaskState::innermost_on_this_thread();
  if (self == nullptr) return;
  py::object type = self->take_held_interrupt();
  if (!type) return;
  PyErr_SetString(type.ptr(), ("task '" + self->name() + "' timed out while it waited").c_str());
  throw py::error_already_set();
}

// The waits here block on tasks or counters whose own wait reports the
// worker as blocked where that matters (TaskState's wait).
template <class WaitSlice>
bool sliced_wait(std::optional<double> timeout_s, WaitSlice&& wait_slice) {
  return released_wait(timeout_s, std::forward<WaitSlice>(wait_slice), /*report_blocked=*/false);
}
}  // namespace

std::optional<double> checked_timeout(std::optional<double> timeout_s) {
  if (timeout_s && (std::isnan(*timeout_s) || *timeout_s < 0)) {
    throw py::value_error("timeout must be a non-negative number of seconds or None");
  }
  return timeout_s;
}

void note_abandoned(const Runtime* runtime) noexcept {
  const TaskHost* host = runtime;
  auto* node = new (std::nothrow) AbandonedNode{host, g_abandoned.load(std::memory_order_relaxed)};
  if (!node) return;
  // release: a reader that finds the node sees its fields.
  while (!g_abandoned.compare_exchange_weak(node->next, node, std::memory_order_release, std::memory_order_relaxed)) {}
}

bool wait_task(TaskState& task, std::optional<double> timeout_s) {
  if (task.done()) return true;
  if (task.host() && is_abandoned(task.host())) {
    throw std::runtime_error("task '" + task.name() +
                             "' belongs to a dftracer.utils Runtime whose threads are gone (created before "
                             "os.fork(), or left behind at exit); it will never finish");
  }
  // Caller runs: a thread outside the pools that waits, with no timeout, for
  // a Python task nobody has started runs it itself. It holds the GIL the
  // task needs anyway, so the round trip saves two GIL hand-offs and two
  // futex wakes, and on a machine whose cores are all busy it does not wait
  // for a worker to be scheduled (docs/design.md, "The GIL"). It first gives
  // a worker that is already looking for work a few microseconds to take it
  // (then the worker is faster), and it runs the task only while one of the
  // pool's workers is free: the caller stands in for that worker, so no more
  // tasks run at once than the pool has workers (give or take one, for the
  // moment a worker takes work at the same time). Not while tasks may time
  // out: a timeout releases the waiter at the deadline, which a waiter that
  // is itself running the body (a sleep, a C call) could not be.
  if (!timeout_s && Executor::current() == nullptr && task.executor() != nullptr &&
      task.status() == TaskStatus::queued && task.executor()->tasks_running() < task.executor()->threads() &&
      task.host() != nullptr && !task.host()->tasks_may_time_out()) {
    if (auto* py_task = dynamic_cast<PythonTaskState*>(&task)) {
      without_gil([&] {
        auto until = std::chrono::steady_clock::now() + kCallerGrace;
        while (task.status() == TaskStatus::queued && std::chrono::steady_clock::now() < until) cpu_relax();
      });
      if (py_task->run_on_waiting_thread()) {
        raise_held_interrupt();
        if (task.done()) return true;
      }
    }
  }
  bool done;
  if (!timeout_s && Executor::current() != nullptr) {
    // A worker: no signals to watch for; may run the task inline.
    without_gil([&] {
      PythonPermits::Pause pause;
      task.wait();
    });
    done = true;
  } else {
    done = sliced_wait(timeout_s, [&](std::chrono::nanoseconds slice) { return task.wait_for(slice); });
  }
  raise_held_interrupt();
  return done;
}

bool wait_all(Runtime& runtime, std::optional<double> timeout_s) {
  if (runtime.active() == 0 && Runtime::current() != &runtime) return true;
  return sliced_wait(timeout_s, [&](std::chrono::nanoseconds slice) { return runtime.wait_all_for(slice); });
}

bool drain(Runtime& runtime, std::optional<double> timeout_s, bool cancel) {
  return sliced_wait(timeout_s, [&](std::chrono::nanoseconds slice) {
    if (cancel) runtime.cancel_live();  // again each slice: running tasks may submit more
    return runtime.drain_for(slice);
  });
}

}  // namespace dftracer::utils::python
