// _CompletionQueue: the Python view of the engine's CompletionQueue (see
// dftracer/utils/core/detail/completion_queue.hpp), for dftracer.utils.as_completed,
// wait and map(ordered=False). Every method is called with the GIL held,
// which also serialises the consumer side; get() waits with it released.
#include "completion_queue.hpp"

#include <pybind11/stl.h>

#include <optional>

#include "dftracer/utils/core/detail/completion_queue.hpp"
#include "native_handle.hpp"
#include "released_wait.hpp"
#include "waiting.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {

// GIL held. The next key in completion order; None when `timeout` seconds
// pass first (0: do not wait). Ctrl-C raises KeyboardInterrupt.
std::optional<std::uint64_t> get(CompletionQueue& q, std::optional<double> timeout_s) {
  timeout_s = checked_timeout(timeout_s);
  if (auto key = q.try_pop()) return key;
  if (timeout_s && *timeout_s <= 0) return std::nullopt;
  // Another consumer thread may take the key between our wake and our pop
  // (both hold the GIL in turn): then wait again, within the deadline.
  using clock = std::chrono::steady_clock;
  std::optional<clock::time_point> deadline;
  if (timeout_s) {
    deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(*timeout_s));
  }
  for (;;) {
    std::optional<double> left;
    if (deadline) left = std::max(0.0, std::chrono::duration<double>(*deadline - clock::now()).count());
    released_wait(left, [&q](std::chrono::nanoseconds slice) { return q.wait(slice); });
    if (auto key = q.try_pop()) return key;
    if (deadline && clock::now() >= *deadline) return std::nullopt;
  }
}

}  // namespace

void register_completion_queue(py::module_& m) {
  py::class_<CompletionQueue>(m, "_CompletionQueue",
                              "Finished tasks in completion order (engine side of as_completed, wait, unordered map).")
      .def(py::init<>())
      .def(
          "watch", [](CompletionQueue& q, const NativeHandle& h, std::uint64_t key) { q.watch(*h.state, key); },
          py::arg("handle"), py::arg("key"), "Queues `key` once the task of `handle` is final (now if it already is).")
      .def("post", &CompletionQueue::post, py::arg("key"), "Queues `key` now.")
      .def("get", &get, py::arg("timeout") = py::none(),
           "The next key in completion order, or None when `timeout` seconds pass first; GIL released while "
           "waiting.")
      .def("ready", &CompletionQueue::ready, "How many keys get() can return without waiting.");
}

}  // namespace dftracer::utils::python
