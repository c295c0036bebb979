// The one blocking wait from Python (handles, wait_all, shutdown's drain,
// max_pending admission, completion queues): GIL released, interruptible,
// and safe on a runtime worker and during interpreter finalization (the GIL
// is retaken through without_gil, never in a destructor).
//
// `round(slice)` waits at most `slice` for its condition on a futex and
// returns true once it holds; the wake itself is always the futex, the
// slice only bounds how long a thread goes without looking at signals.
//  - Off the pools, slices are short so Ctrl-C raises promptly
//    (PyErr_CheckSignals between them, with the GIL).
//  - On a worker (of any runtime) the thread gives back its python_threads
//    permit and, with `report_blocked`, is reported blocked so its pool can
//    add a temporary worker (a round that waits on a task does that itself,
//    in TaskState's wait); there are no signals to watch for there.
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <optional>

#include "dftracer/utils/core/executor.hpp"
#include "gil.hpp"
#include "python_permits.hpp"

namespace dftracer::utils::python {

// GIL held on entry and on return. True when `round` succeeded, false when
// `timeout_s` (seconds; nullopt: none) passed first. Throws
// pybind11::error_already_set on a pending signal.
template <class Round>
bool released_wait(std::optional<double> timeout_s, Round&& round, bool report_blocked = true) {
  using clock = std::chrono::steady_clock;
  constexpr std::chrono::nanoseconds kSlice = std::chrono::milliseconds(20);
  constexpr std::chrono::nanoseconds kForever = std::chrono::hours(24);
  std::optional<clock::time_point> deadline;
  if (timeout_s) {
    deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(*timeout_s));
  }
  const bool on_worker = Executor::current() != nullptr;
  for (;;) {
    std::chrono::nanoseconds slice = on_worker ? kForever : kSlice;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - clock::now());
      if (left < slice) slice = left;
    }
    bool done = without_gil([&] {
      PythonPermits::Pause pause;
      if (!report_blocked) return round(slice);
      Executor::BlockingScope blocking;
      return round(slice);
    });
    if (done) return true;
    if (!on_worker && PyErr_CheckSignals() != 0) throw pybind11::error_already_set();
    if (deadline && clock::now() >= *deadline) return false;
  }
}

}  // namespace dftracer::utils::python
