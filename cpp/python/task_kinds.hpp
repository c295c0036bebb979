// The kinds of submitted task the bindings define, in one place (the core's
// are in core/task_kinds.hpp):
//
//   PyResultTaskState  result and error as Python objects: get() returns the
//                      very object and re-raises the very exception (with its
//                      traceback) the task produced. Its destructor takes the
//                      GIL: the last reference may be dropped on any thread.
//   PythonTaskState    a Python callable, run on a worker with the GIL held
//                      around the call only.
//   ForeignTaskState   a task submitted through the C ABI (c_api.h).
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>

#include "dftracer/utils/c_api.h"

#include "dftracer/utils/core/task_state.hpp"
#include "exceptions.hpp"
#include "python_permits.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

class PyResultTaskState : public TaskState {
 public:
  using TaskState::TaskState;
  ~PyResultTaskState() override;

  // GIL held. The result (None when failed or not done).
  virtual py::object result() const { return result_ ? result_ : py::none(); }
  // GIL held. The exception object, or None.
  py::object exception_object() const { return exception_ ? exception_ : py::none(); }
  // GIL held. The exception's traceback as the task left it (None if none).
  // Raising an exception again appends the raiser's frames to its
  // __traceback__, so each get() re-raises from this one, not from what the
  // previous get() left behind.
  py::object original_traceback() const { return traceback_ ? traceback_ : py::none(); }

  // GIL held: records the outcome of a finished Python call (exactly one of
  // the two), and returns the message to put in PythonTaskError.
  void store_result(py::object value) { result_ = std::move(value); }
  std::string store_current_exception();

 protected:
  // mutable: a subclass may build the Python result lazily, on first read.
  mutable py::object result_;
  py::object exception_;
  py::object traceback_;
};

class PythonTaskState final : public PyResultTaskState {
 public:
  // Shares `permits` with the runtime: a task may outlive the runtime's
  // Python object (dropped inside one of its tasks), never what it uses.
  PythonTaskState(py::object fn, py::tuple args, py::object kwargs, std::string name,
                  std::shared_ptr<PythonPermits> permits);
  ~PythonTaskState() override;

  // GIL held. Raises `exception_type` inside the callable, if it is still
  // running (timeouts), at its next bytecode boundary: it cannot cut a C
  // call short (time.sleep, a blocking read) but fires when it returns.
  // The interrupt reaches this task's own code only: while another task runs
  // inline on the same thread (inside this one's get()), it is held back and
  // raised from that get() when it returns (take_held_interrupt).
  void interrupt(PyObject* exception_type);

  // GIL held, not on a worker: runs the task here, on the waiting thread,
  // if it is still queued and a python_threads permit is free now (never
  // waiting for one: we hold the GIL). True when it ran. See wait_task.
  bool run_on_waiting_thread();
  // Before submit: this task only ever runs on a worker (Runtime(caller_runs=False)).
  void forbid_caller_runs() noexcept { caller_may_run_ = false; }

  // GIL held. The Python task whose code runs on this thread right now
  // (the innermost one, when tasks run inline inside others' waits), or null.
  static PythonTaskState* innermost_on_this_thread() noexcept;
  // GIL held. An interrupt held back while a task ran inline (see
  // interrupt()): the exception type to raise now, or null.
  py::object take_held_interrupt();
  // GIL held. For task dumps: the Python thread ident running the callable
  // now (0: not inside its call), and the task running inline inside its
  // wait on that thread (null: none).
  unsigned long running_thread_ident() const noexcept { return in_call_ ? thread_ident_ : 0; }
  const PythonTaskState* inline_inner() const noexcept { return inner_; }

 protected:
  void run() override;
  // A task cancelled before it ran drops its callable and arguments here,
  // not when its last handle goes.
  void on_final() override;

 private:
  void drop_call();

  py::object fn_;
  py::object args_;    // a tuple
  py::object kwargs_;  // dict or None
  std::shared_ptr<PythonPermits> permits_;
  // Guarded by the GIL: whether the callable is running, on which thread,
  // the task running inline inside it (innermost first), whether an
  // asynchronous exception was sent to it, and one held back.
  bool in_call_ = false;
  bool interrupted_ = false;
  unsigned long thread_ident_ = 0;
  bool caller_may_run_ = true;
  PythonTaskState* outer_ = nullptr;  // the task whose wait we run inside
  PythonTaskState* inner_ = nullptr;  // the task running inside our wait
  py::object held_interrupt_;
};

// The C ABI's last-error slot of the calling thread (last_error()).
std::string& c_api_last_error() noexcept;

// A task submitted through the C ABI: a C run function plus its context,
// and a result that is either a Python object or a plain C value (int64,
// double, bytes, str) turned into a Python object only when Python asks, so
// a native task can complete without taking the GIL. The complete_*
// functions return false when the task was already final (the first
// completion wins).
class ForeignTaskState final : public PyResultTaskState {
 public:
  struct Bytes {
    std::string data;
  };
  struct Text {
    std::string data;
  };

  ForeignTaskState(std::string name, dft_run_fn run, void* context, dft_destroy_fn destroy)
      : PyResultTaskState(std::move(name)), run_(run), context_(context), destroy_(destroy) {}

  ~ForeignTaskState() override { release_context(); }

  template <class V>
  bool complete_with(V value) {
    return store_then_finish([&] { value_ = std::move(value); });
  }
  // GIL held; borrows `obj`.
  bool complete_object(PyObject* obj) {
    return store_then_finish([&] { result_ = py::reinterpret_borrow<py::object>(obj); });
  }
  bool complete_error(const char* message) {
    std::string text = message && *message ? message : "native task failed";
    return finish_failure(std::make_exception_ptr(std::runtime_error(text)));
  }

  py::object result() const override {
    if (result_) return result_;
    std::lock_guard lock(value_mu_);
    if (auto* i = std::get_if<std::int64_t>(&value_)) {
      result_ = py::int_(*i);
    } else if (auto* d = std::get_if<double>(&value_)) {
      result_ = py::float_(*d);
    } else if (auto* b = std::get_if<Bytes>(&value_)) {
      result_ = py::bytes(b->data);
    } else if (auto* t = std::get_if<Text>(&value_)) {
      result_ = py::str(t->data);
    } else {
      return py::none();
    }
    return result_;
  }

  bool get_int64(std::int64_t& out) const {
    std::lock_guard lock(value_mu_);
    if (auto* i = std::get_if<std::int64_t>(&value_)) {
      out = *i;
      return true;
    }
    return false;
  }
  bool get_double(double& out) const {
    std::lock_guard lock(value_mu_);
    if (auto* d = std::get_if<double>(&value_)) {
      out = *d;
      return true;
    }
    return false;
  }

 protected:
  void run() override {
    std::string& last_error = c_api_last_error();
    last_error.clear();
    dft_status status = run_(reinterpret_cast<dft_task*>(static_cast<TaskState*>(this)), context_);
    if (status != DFT_PENDING && !done()) {
      if (status == DFT_OK) {
        complete_with(std::monostate{});
      } else {
        complete_error(last_error.empty() ? "native task failed" : last_error.c_str());
      }
    }
    ran_.store(true, std::memory_order_release);
    if (done()) release_context();
  }

  void on_final() override {
    // Never started (cancelled while queued), or already returned from run:
    // nobody will touch the context again.
    if (start_ns() == 0 || ran_.load(std::memory_order_acquire)) release_context();
  }

 private:
  // Stores the value, then finishes; the value of a task already final is
  // never stored.
  template <class Store>
  bool store_then_finish(Store&& store) {
    if (done()) return false;
    {
      std::lock_guard lock(value_mu_);
      if (value_set_) return false;
      store();
      value_set_ = true;
    }
    return finish_success();
  }

  void release_context() {
    if (destroyed_.exchange(true, std::memory_order_acq_rel)) return;
    if (destroy_) destroy_(context_);
  }

  dft_run_fn run_;
  void* context_;
  dft_destroy_fn destroy_;
  std::atomic<bool> ran_{false};
  std::atomic<bool> destroyed_{false};
  mutable std::mutex value_mu_;
  bool value_set_ = false;
  std::variant<std::monostate, std::int64_t, double, Bytes, Text> value_;
};

}  // namespace dftracer::utils::python
