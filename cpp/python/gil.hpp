// GIL handling for the runtime's threads and for waits that release it.
//
// A thread the runtime owns (a worker of either pool, the callback thread)
// takes one Python thread state the first time it runs Python code and keeps
// it for its whole life: building a fresh one per call costs ~8 us here,
// restoring a kept one ~70 ns (docs/design.md, "The GIL"). The state is
// dropped when the thread exits, unless the interpreter is already exiting
// (then it is left alone: touching Python during finalization is not
// allowed).
//
// Every re-acquisition of the GIL that may happen during finalization goes
// through survive_finalization, outside any destructor (without_gil below).
#pragma once

#include <pybind11/pybind11.h>

#include <type_traits>
#include <utility>
#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

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

// Blocks the calling thread until the process ends. Never returns.
[[noreturn]] void park_thread_forever() noexcept;

// Runs `f`, which takes the GIL or runs Python code (and so may drop and
// retake the GIL). CPython 3.11-3.13 ends a thread that retakes the GIL while
// the interpreter finalizes with pthread_exit(); the forced unwind would run
// our GIL guards without a thread state and then be swallowed by the engine's
// catch (...) around task bodies, which aborts the process ("FATAL:
// exception not rethrown"). Such a thread has nothing left to do: it stops
// unwinding here and parks until the process exits.
template <class F>
decltype(auto) survive_finalization(F&& f) {
#if defined(__GLIBCXX__)
  try {
    return std::forward<F>(f)();
  } catch (abi::__forced_unwind&) {
    park_thread_forever();
  }
#else
  return std::forward<F>(f)();
#endif
}

// Runs `f()` with the GIL released and takes it back afterwards, also when
// `f` throws. Unlike pybind11::gil_scoped_release, the GIL is retaken outside
// any destructor: a thread CPython ends while it finalizes (pthread_exit
// inside PyEval_RestoreThread) then leaves through survive_finalization,
// which parks it, instead of hitting a noexcept destructor (std::terminate,
// rc 134). Call with the GIL held.
template <class F>
decltype(auto) without_gil(F&& f) {
  PyThreadState* state = PyEval_SaveThread();
  auto retake = [state] { survive_finalization([state] { PyEval_RestoreThread(state); }); };
  if constexpr (std::is_void_v<decltype(f())>) {
    try {
      std::forward<F>(f)();
    } catch (...) {
      retake();
      throw;
    }
    retake();
  } else {
    auto result = [&] {
      try {
        return std::forward<F>(f)();
      } catch (...) {
        retake();
        throw;
      }
    }();
    retake();
    return result;
  }
}

// Exit hook of the runtime's threads: drops the thread's kept state.
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
