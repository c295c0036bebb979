// Kept per-worker Python thread states (see gil.hpp).
#include "gil.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include "dftracer/utils/core/detail/thread_role.hpp"
#include "dftracer/utils/core/executor.hpp"

namespace dftracer::utils::python {

namespace {
thread_local PyThreadState* tls_kept_state = nullptr;
std::atomic<bool> g_exiting{false};

// Threads that keep their Python thread state: those that live as long as
// the runtime and run Python code over and over.
bool keeps_thread_state() noexcept {
  return Executor::current() != nullptr || ThreadRole::kind() == ThreadRole::Kind::callback;
}
}  // namespace

bool python_exiting() noexcept {
  if (g_exiting.load(std::memory_order_acquire)) return true;
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

void park_thread_forever() noexcept {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
}

void mark_python_exiting() noexcept { g_exiting.store(true, std::memory_order_release); }

ScopedGil::ScopedGil() {
  if (PyGILState_Check()) {
    mode_ = Mode::already_held;
    return;
  }
  if (keeps_thread_state()) {
    if (tls_kept_state == nullptr) {
      // First Python call on this thread: create its thread state and keep
      // the Ensure reference for the worker's lifetime.
      survive_finalization([] { PyGILState_Ensure(); });
      tls_kept_state = PyThreadState_Get();
    } else {
      survive_finalization([] { PyEval_RestoreThread(tls_kept_state); });
    }
    mode_ = Mode::kept_state;
    return;
  }
  gilstate_ = survive_finalization([] { return PyGILState_Ensure(); });
  mode_ = Mode::gilstate;
}

ScopedGil::~ScopedGil() {
  switch (mode_) {
    case Mode::already_held:
      break;
    case Mode::kept_state:
      PyEval_SaveThread();
      break;
    case Mode::gilstate:
      PyGILState_Release(gilstate_);
      break;
  }
}

void release_worker_thread_state() noexcept {
  PyThreadState* state = tls_kept_state;
  tls_kept_state = nullptr;
  if (state == nullptr || python_exiting()) return;
  survive_finalization([state] { PyEval_RestoreThread(state); });
  // Balances the first PyGILState_Ensure: deletes the thread state and
  // releases the GIL.
  PyGILState_Release(PyGILState_UNLOCKED);
}

GilSafeObject::~GilSafeObject() {
  if (!obj) return;
  if (python_exiting()) {
    obj.release();  // leaked on purpose: no Python calls during finalization
    return;
  }
  ScopedGil gil;
  survive_finalization([this] { obj = pybind11::object(); });  // may run __del__
}

}  // namespace dftracer::utils::python
