// GIL handling for threads the runtime owns.
//
// A worker takes one Python thread state the first time it runs Python code
// and keeps it for its whole life: building a fresh one per call costs ~8 us
// here, restoring a kept one ~70 ns (NOTES.md). The state is dropped when the
// worker exits, unless the interpreter is already exiting (then it is left
// alone: touching Python during finalization is not allowed).
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

// Holds the GIL for its lifetime. Reentrant: a no-op when this thread already
// holds it. On runtime workers it restores the worker's kept thread state;
// elsewhere it falls back to PyGILState_Ensure/Release.
class ScopedGil {
 public:
  ScopedGil();
  ~ScopedGil();
  ScopedGil(const ScopedGil&) = delete;
  ScopedGil& operator=(const ScopedGil&) = delete;

 private:
  enum class Mode { already_held, kept_state, gilstate } mode_;
  PyGILState_STATE gilstate_{};
};

// Worker exit hook: drops the worker's kept thread state.
void release_worker_thread_state() noexcept;

// True once the interpreter started exiting (our atexit hook ran, or
// finalization began): from then on no runtime thread touches Python.
bool python_exiting() noexcept;
void mark_python_exiting() noexcept;

// A Python object that may be destroyed on any thread: its destructor takes
// the GIL (or leaks the reference when the interpreter is exiting).
struct GilSafeObject {
  pybind11::object obj;
  GilSafeObject() = default;
  explicit GilSafeObject(pybind11::object o) : obj(std::move(o)) {}
  GilSafeObject(const GilSafeObject&) = delete;
  GilSafeObject& operator=(const GilSafeObject&) = delete;
  ~GilSafeObject();
};

}  // namespace dftracer::utils::python
