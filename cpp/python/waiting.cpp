// Interruptible waits (see waiting.hpp).
#include "waiting.hpp"

#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <new>
#include <stdexcept>

#include "python_permits.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {
constexpr auto kSlice = std::chrono::milliseconds(20);

// Abandoned runtimes: a push-only list, never freed (there are a handful per
// process at most).
struct AbandonedNode {
  const Runtime* runtime;
  AbandonedNode* next;
};
std::atomic<AbandonedNode*> g_abandoned{nullptr};

bool is_abandoned(const Runtime* runtime) noexcept {
  for (AbandonedNode* n = g_abandoned.load(std::memory_order_acquire); n; n = n->next) {
    if (n->runtime == runtime) return true;
  }
  return false;
}

// Waits in slices until `ready(slice)` says done or the deadline passes.
template <class WaitSlice>
bool sliced_wait(std::optional<double> timeout_s, WaitSlice&& wait_slice) {
  using clock = std::chrono::steady_clock;
  std::optional<clock::time_point> deadline;
  if (timeout_s) {
    deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(*timeout_s));
  }
  for (;;) {
    std::chrono::nanoseconds slice = kSlice;
    if (deadline) {
      auto left = *deadline - clock::now();
      if (left < slice) slice = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
    }
    bool done;
    {
      py::gil_scoped_release nogil;
      PythonPermits::Pause pause;
      done = wait_slice(slice);
    }
    if (done) return true;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (deadline && clock::now() >= *deadline) return false;
  }
}
}  // namespace

std::optional<double> checked_timeout(std::optional<double> timeout_s) {
  if (timeout_s && (std::isnan(*timeout_s) || *timeout_s < 0)) {
    throw py::value_error("timeout must be a non-negative number of seconds or None");
  }
  return timeout_s;
}

void note_abandoned(const Runtime* runtime) noexcept {
  auto* node = new (std::nothrow) AbandonedNode{runtime, g_abandoned.load(std::memory_order_relaxed)};
  if (!node) return;
  // release: a reader that finds the node sees its fields.
  while (!g_abandoned.compare_exchange_weak(node->next, node, std::memory_order_release,
                                            std::memory_order_relaxed)) {
  }
}

bool wait_task(TaskState& task, std::optional<double> timeout_s) {
  if (task.done()) return true;
  if (task.runtime() && is_abandoned(task.runtime())) {
    throw std::runtime_error("task '" + task.name() +
                             "' belongs to a dftracer.utils Runtime whose threads are gone (created before "
                             "os.fork(), or left behind at exit); it will never finish");
  }
  if (!timeout_s && Executor::current() != nullptr) {
    // A worker: no signals to watch for; may run the task inline.
    py::gil_scoped_release nogil;
    PythonPermits::Pause pause;
    task.wait();
    return true;
  }
  return sliced_wait(timeout_s, [&](std::chrono::nanoseconds slice) { return task.wait_for(slice); });
}

bool wait_all(Runtime& runtime, std::optional<double> timeout_s) {
  if (Runtime::current() == &runtime) {
    throw std::logic_error("wait_all() called from inside one of this runtime's tasks would wait for itself");
  }
  if (runtime.active() == 0) return true;
  return sliced_wait(timeout_s, [&](std::chrono::nanoseconds slice) { return runtime.wait_all_for(slice); });
}

}  // namespace dftracer::utils::python
