// Header-only C++20 layer over the C ABI (c_api.h), compiled into the
// *consumer's* extension: the trampolines below are instantiated there, so
// nothing but C types crosses into dftracer.utils.
//
//   namespace ext = dftracer::utils::ext;
//   ext::Runtime rt = ext::Runtime::from_python(py_runtime);     // GIL held
//   ext::TaskRef t = rt.submit("crc32", [path] { return crc32_of(path); }, DFT_POOL_IO);
//   PyObject* handle = t.to_python();                            // GIL held
//
// A callable may return void, an integer, a floating-point value, a
// std::string (bytes) or an ext::Text (str); it may throw: the exception's
// what() becomes the task's error message. Requires Python.h to be included
// first (for PyCapsule_Import).
//
// Versions: this layer loads against any table of the same major version,
// whatever its minor, older or newer than this header's. Entries added
// after 1.0 (ext::when_all, ext::when_any: 1.1) check that the loaded table
// has them and throw ext::Error naming both versions when it does not.
#pragma once

#include <Python.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dftracer/utils/c_api.h"

namespace dftracer::utils::ext {

// Thrown by this layer when the C ABI reports an error.
class Error : public std::runtime_error {
 public:
  Error(dft_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  dft_status status() const noexcept { return status_; }

 private:
  dft_status status_;
};

// A string result that reaches Python as str (a std::string becomes bytes).
struct Text {
  std::string value;
};

// Imports the table from the capsule (GIL held) and checks that its major
// version is `expected_major`; throws Error naming both versions otherwise.
inline const dft_c_api* import_api(std::uint16_t expected_major = DFT_C_API_MAJOR) {
  auto* t = static_cast<const dft_c_api*>(PyCapsule_Import(DFT_C_API_CAPSULE_NAME, 0));
  if (!t) {
    PyErr_Clear();
    throw Error(DFT_ERROR, "cannot import " DFT_C_API_CAPSULE_NAME ": is dftracer.utils installed?");
  }
  if (t->major != expected_major) {
    throw Error(DFT_ERROR, "dftracer.utils provides C ABI major version " + std::to_string(t->major) +
                               " but this extension was built for major version " + std::to_string(expected_major) +
                               "; rebuild the extension against it");
  }
  return t;
}

// The imported table. The first call (GIL held) imports and checks it;
// later calls read a cached pointer.
inline const dft_c_api& api() {
  static const dft_c_api* table = import_api();
  return *table;
}

inline void check(dft_status status) {
  if (status != DFT_OK) throw Error(status, api().last_error());
}

// Throws unless `table` has the entry ending at `entry_end` (offsetof plus
// size), i.e. was exported by C ABI `needed_minor` or later.
inline void require_entry(const dft_c_api& table, std::size_t entry_end, std::uint16_t needed_minor, const char* what) {
  if (table.struct_size >= entry_end) return;
  throw Error(DFT_ERROR, std::string(what) + " needs dftracer.utils C ABI " + std::to_string(DFT_C_API_MAJOR) + "." +
                             std::to_string(needed_minor) + " but the installed module provides " +
                             std::to_string(table.major) + "." + std::to_string(table.minor) +
                             "; upgrade dftracer-utils");
}
// The end of entry `member` in the table, for require_entry.
#define DFTRACER_EXT_ENTRY_END(member) (offsetof(dft_c_api, member) + sizeof(dft_c_api::member))

// RAII reference to a submitted task (a handle, not a coroutine: the
// coroutine type of the engine is dftracer::utils::Task<T>, which never
// crosses the C ABI).
class [[nodiscard]] TaskRef {
 public:
  TaskRef() noexcept = default;
  explicit TaskRef(dft_task* adopted) noexcept : task_(adopted) {}
  TaskRef(TaskRef&& o) noexcept : task_(std::exchange(o.task_, nullptr)) {}
  TaskRef& operator=(TaskRef&& o) noexcept {
    if (this != &o) {
      reset();
      task_ = std::exchange(o.task_, nullptr);
    }
    return *this;
  }
  TaskRef(const TaskRef& o) : task_(o.task_) {
    if (task_) check(api().retain(task_));
  }
  TaskRef& operator=(const TaskRef& o) {
    if (this != &o) *this = TaskRef(o);
    return *this;
  }
  ~TaskRef() { reset(); }

  dft_task* get() const noexcept { return task_; }
  explicit operator bool() const noexcept { return task_ != nullptr; }

  // Blocks without the GIL; false on timeout. Do not call while holding the
  // GIL when the task may run Python.
  bool wait(double timeout_s = -1) const {
    dft_status s = api().wait(task_, timeout_s);
    if (s == DFT_TIMED_OUT) return false;
    if (s != DFT_OK && s != DFT_CANCELLED) check(s);
    return true;
  }
  dft_task_state state() const {
    dft_task_state out;
    check(api().get_state(task_, &out));
    return out;
  }
  bool cancel() const {
    int queued = 0;
    check(api().cancel(task_, &queued));
    return queued != 0;
  }
  std::string error() const {
    char buf[1024];
    check(api().get_error(task_, buf, sizeof buf));
    return buf;
  }
  std::int64_t int64() const {
    std::int64_t v;
    check(api().get_int64(task_, &v));
    return v;
  }
  double float64() const {
    double v;
    check(api().get_double(task_, &v));
    return v;
  }
  // GIL held: a new reference to a _NativeTaskHandle.
  PyObject* to_python() const {
    PyObject* out = nullptr;
    check(api().to_python(task_, &out));
    return out;
  }

  // co_await task: resumes the awaiting coroutine on the thread that
  // finishes the task (or at once if it is already final).
  bool await_ready() const { return state() >= DFT_TASK_COMPLETED; }
  void await_suspend(std::coroutine_handle<> h) const {
    check(api().add_done_callback(
        task_, [](void* arg) { std::coroutine_handle<>::from_address(arg).resume(); }, h.address()));
  }
  dft_task_state await_resume() const { return state(); }

 private:
  void reset() noexcept {
    if (task_) api().release(task_);
    task_ = nullptr;
  }
  dft_task* task_ = nullptr;
};

// The name before 1.1; source written against it keeps compiling.
using Task [[deprecated("ext::Task is ext::TaskRef (a task handle)")]] = TaskRef;

namespace detail {
template <class Range>
std::vector<dft_task*> raw_tasks(const Range& tasks) {
  std::vector<dft_task*> raw;
  for (const TaskRef& t : tasks) raw.push_back(t.get());
  return raw;
}
}  // namespace detail

// C ABI 1.1. A task that completes once every task in `tasks` is final; its
// int64() is how many did not complete successfully (0: all did). It never
// waits on a worker: the inputs signal it as they finish.
template <class Range = std::vector<TaskRef>>
TaskRef when_all(const Range& tasks) {
  require_entry(api(), DFTRACER_EXT_ENTRY_END(when_all), 1, "ext::when_all");
  std::vector<dft_task*> raw = detail::raw_tasks(tasks);
  dft_task* out = nullptr;
  check(api().when_all(raw.data(), raw.size(), &out));
  return TaskRef(out);
}

// C ABI 1.1. A task that completes as soon as one of `tasks` is final; its
// int64() is that task's index. The others go on.
template <class Range = std::vector<TaskRef>>
TaskRef when_any(const Range& tasks) {
  require_entry(api(), DFTRACER_EXT_ENTRY_END(when_any), 1, "ext::when_any");
  std::vector<dft_task*> raw = detail::raw_tasks(tasks);
  dft_task* out = nullptr;
  check(api().when_any(raw.data(), raw.size(), &out));
  return TaskRef(out);
}

// Inside a running task: progress and the cancel token.
class TaskContext {
 public:
  explicit TaskContext(dft_task* task) noexcept : task_(task) {}
  void report_progress(std::uint64_t completed, std::uint64_t total) const {
    api().report_progress(task_, completed, total);
  }
  bool cancel_requested() const {
    int out = 0;
    api().cancel_requested(task_, &out);
    return out != 0;
  }
  dft_task* task() const noexcept { return task_; }

 private:
  dft_task* task_;
};

namespace detail {
// What a task callable returns; it may take a TaskContext& or nothing.
template <class F>
using task_result_t = typename std::conditional_t<std::is_invocable_v<F&, TaskContext&>,
                                                  std::invoke_result<F&, TaskContext&>, std::invoke_result<F&>>::type;

template <class F>
dft_status complete_from(dft_task* task, F& fn) {
  using R = task_result_t<F>;
  TaskContext ctx(task);
  auto call = [&]() -> decltype(auto) {
    if constexpr (std::is_invocable_v<F&, TaskContext&>) {
      return fn(ctx);
    } else {
      return fn();
    }
  };
  const dft_c_api& a = api();
  if constexpr (std::is_void_v<R>) {
    call();
    return a.complete_none(task);
  } else if constexpr (std::is_same_v<R, bool> || std::is_integral_v<R>) {
    return a.complete_int64(task, static_cast<std::int64_t>(call()));
  } else if constexpr (std::is_floating_point_v<R>) {
    return a.complete_double(task, static_cast<double>(call()));
  } else if constexpr (std::is_same_v<R, std::string>) {
    std::string s = call();
    return a.complete_bytes(task, s.data(), s.size());
  } else if constexpr (std::is_same_v<R, Text>) {
    Text t = call();
    return a.complete_string(task, t.value.data(), t.value.size());
  } else {
    static_assert(std::is_void_v<R>, "unsupported result type: return void, a number, std::string or ext::Text");
  }
}

template <class F>
dft_status trampoline(dft_task* task, void* context) {
  try {
    return complete_from(task, *static_cast<F*>(context));
  } catch (const std::exception& e) {
    return api().complete_error(task, e.what());
  } catch (...) {
    return api().complete_error(task, "unknown C++ exception");
  }
}

template <class F>
void destroy(void* context) {
  delete static_cast<F*>(context);
}
}  // namespace detail

// A runtime, borrowed from its Python object.
class Runtime {
 public:
  // GIL held. `runtime` is a dftracer.utils.Runtime, or None for the default one.
  static Runtime from_python(PyObject* runtime) {
    dft_runtime* rt = nullptr;
    check(api().runtime_from_python(runtime, &rt));
    return Runtime(rt);
  }
  explicit Runtime(dft_runtime* rt) noexcept : rt_(rt) {}

  // Runs `fn` (or `fn(TaskContext&)`) on the chosen pool.
  template <class F>
  TaskRef submit(const std::string& name, F&& fn, dft_pool pool = DFT_POOL_COMPUTE) const {
    using Fn = std::decay_t<F>;
    auto* ctx = new Fn(std::forward<F>(fn));
    dft_task* out = nullptr;
    // submit() destroys the context itself when it fails.
    check(api().submit(rt_, name.c_str(), pool, &detail::trampoline<Fn>, ctx, &detail::destroy<Fn>, &out));
    return TaskRef(out);
  }

  dft_runtime* get() const noexcept { return rt_; }

 private:
  dft_runtime* rt_;
};

}  // namespace dftracer::utils::ext
