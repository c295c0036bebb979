// dftracer_native_example: native tasks on a dftracer.utils Runtime.
//
// Everything here goes through dftracer/utils/c_api.hpp, so this module may
// be built with another compiler or pybind11 than dftracer.utils itself.
// Each function returns _NativeTaskHandle objects; Runtime.submit() passes
// them through, and they behave like any other task (get, wait_all,
// progress, failures).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/c_api.hpp"

namespace py = pybind11;
namespace ext = dftracer::utils::ext;

namespace {

// CRC-32 (IEEE 802.3), table-driven.
std::uint32_t crc32_update(std::uint32_t crc, const unsigned char* data, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

py::object to_handle(const ext::TaskRef& t) { return py::reinterpret_steal<py::object>(t.to_python()); }

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// One I/O-pool task per file; each returns the file's CRC-32 as an int.
py::list checksum_files(py::object runtime, const std::vector<std::string>& paths) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  py::list handles;
  for (const std::string& path : paths) {
    ext::TaskRef task = rt.submit(
        "crc32:" + base_name(path),
        [path](ext::TaskContext& ctx) -> std::int64_t {
          std::ifstream in(path, std::ios::binary | std::ios::ate);
          if (!in) throw std::runtime_error("cannot open " + path);
          auto size = static_cast<std::uint64_t>(in.tellg());
          in.seekg(0);
          std::vector<unsigned char> buf(1 << 16);
          std::uint32_t crc = 0;
          std::uint64_t done = 0;
          while (in) {
            in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
            std::size_t got = static_cast<std::size_t>(in.gcount());
            crc = crc32_update(crc, buf.data(), got);
            done += got;
            ctx.report_progress(done, size);
            if (ctx.cancel_requested()) throw std::runtime_error("cancelled while reading " + path);
          }
          return crc;
        },
        DFT_POOL_IO);
    handles.append(to_handle(task));
  }
  return handles;
}

// A CPU-bound parent that fans out `parts` child tasks and sums their
// results: sum of i*i for i in [0, n).
py::object sum_of_squares(py::object runtime, std::int64_t n, int parts) {
  if (n < 0 || parts < 1) throw std::invalid_argument("need n >= 0 and parts >= 1");
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  ext::TaskRef parent = rt.submit("sum_of_squares", [rt, n, parts](ext::TaskContext& ctx) -> std::int64_t {
    std::vector<ext::TaskRef> children;
    for (int p = 0; p < parts; ++p) {
      std::int64_t lo = n * p / parts, hi = n * (p + 1) / parts;
      children.push_back(rt.submit("sum_of_squares.part", [lo, hi]() -> std::int64_t {
        std::int64_t s = 0;
        for (std::int64_t i = lo; i < hi; ++i) s += i * i;
        return s;
      }));
    }
    std::int64_t total = 0;
    int finished = 0;
    for (ext::TaskRef& child : children) {
      child.wait();  // on a worker: runs the child inline if still queued
      if (child.state() != DFT_TASK_COMPLETED) throw std::runtime_error("part failed: " + child.error());
      total += child.int64();
      ctx.report_progress(static_cast<std::uint64_t>(++finished), static_cast<std::uint64_t>(parts));
    }
    return total;
  });
  return to_handle(parent);
}

// A task that fails with `message`.
py::object fail_with(py::object runtime, const std::string& message) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  return to_handle(rt.submit("fail_with", [message]() -> void { throw std::runtime_error(message); }));
}

// A task that returns text (reaches Python as str).
py::object greet(py::object runtime, const std::string& who) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  return to_handle(rt.submit("greet", [who] { return ext::Text{"hello, " + who}; }));
}

// The awaitable: this extension's own coroutine co_awaits work that runs on
// the dftracer.utils pool, then finishes on the pool thread that completed it.
struct Fire {
  struct promise_type {
    Fire get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

Fire double_on_pool(ext::Runtime rt, std::int64_t x, std::promise<std::int64_t>* out) {
  ext::TaskRef t = rt.submit("double", [x]() -> std::int64_t { return 2 * x; });
  dft_task_state state = co_await t;
  if (state == DFT_TASK_COMPLETED) {
    out->set_value(t.int64());
  } else {
    out->set_exception(std::make_exception_ptr(std::runtime_error(t.error())));
  }
}

std::int64_t double_via_coroutine(py::object runtime, std::int64_t x) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  std::promise<std::int64_t> result;
  auto future = result.get_future();
  double_on_pool(rt, x, &result);
  py::gil_scoped_release nogil;
  return future.get();
}

// Submits after shutting the runtime down; returns the raw C status.
int submit_after_shutdown(py::object runtime) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  runtime.attr("shutdown")();
  dft_task* out = nullptr;
  dft_status status = ext::api().submit(
      rt.get(), "late", DFT_POOL_COMPUTE, [](dft_task*, void*) { return DFT_OK; }, nullptr, nullptr, &out);
  if (out) ext::api().release(out);
  return status;
}

// ---- C ABI 1.1: when_all / when_any ----------------------------------------

// A latch the Python test opens, so inputs finish in an order it chooses
// (no timing involved). A task waiting on a gate polls it without the GIL,
// and gives up after 30 s so a broken test fails instead of hanging.
struct Gate {
  std::atomic<bool> opened{false};
  explicit Gate(bool open = false) : opened(open) {}
  void open() { opened.store(true, std::memory_order_release); }
  void wait() const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!opened.load(std::memory_order_acquire)) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("gate never opened");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
};

// values[i] once gates[i] opens (fails instead when i == fail_at).
std::vector<ext::TaskRef> gated_inputs(const ext::Runtime& rt, const std::vector<std::int64_t>& values,
                                       const std::vector<std::shared_ptr<Gate>>& gates, int fail_at) {
  if (values.size() != gates.size()) throw std::invalid_argument("one gate per value");
  std::vector<ext::TaskRef> inputs;
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::int64_t v = values[i];
    std::shared_ptr<Gate> gate = gates[i];
    bool fail = static_cast<int>(i) == fail_at;
    inputs.push_back(rt.submit("input" + std::to_string(i), [v, gate, fail]() -> std::int64_t {
      gate->wait();
      if (fail) throw std::runtime_error("input failed on purpose");
      return v;
    }));
  }
  return inputs;
}

py::tuple handles_of(const ext::TaskRef& combined, const std::vector<ext::TaskRef>& inputs) {
  py::list hs;
  for (const ext::TaskRef& t : inputs) hs.append(to_handle(t));
  return py::make_tuple(to_handle(combined), hs);
}

// (when_any handle, input handles): its result is the first input's index.
py::tuple when_any_of(py::object runtime, const std::vector<std::int64_t>& values,
                      const std::vector<std::shared_ptr<Gate>>& gates, int fail_at) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  std::vector<ext::TaskRef> inputs = gated_inputs(rt, values, gates, fail_at);
  return handles_of(ext::when_any(inputs), inputs);
}

// (when_all handle, input handles): its result is how many inputs failed.
py::tuple when_all_of(py::object runtime, const std::vector<std::int64_t>& values,
                      const std::vector<std::shared_ptr<Gate>>& gates, int fail_at) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  std::vector<ext::TaskRef> inputs = gated_inputs(rt, values, gates, fail_at);
  return handles_of(ext::when_all(inputs), inputs);
}

// A parent task that fans out `parts` children and completes from a done
// callback on their when_all: its run function returns DFT_PENDING at once,
// so no worker ever waits for the children (with threads=1 the one worker
// is free to run them). Plain C table calls, as a C extension writes them.
struct FanOut {
  ext::Runtime rt;
  std::int64_t n;
  int parts;
  dft_task* self = nullptr;  // borrowed: the task whose context this is
  std::vector<ext::TaskRef> children;
  ext::TaskRef all;
};

void fan_out_done(void* arg) {
  auto* f = static_cast<FanOut*>(arg);
  const dft_c_api& a = ext::api();
  dft_task* self = f->self;
  if (f->all.int64() != 0) {
    a.complete_error(self, "a part failed");  // may destroy *f: nothing after
    return;
  }
  std::int64_t total = 0;
  for (const ext::TaskRef& c : f->children) total += c.int64();
  a.complete_int64(self, total);  // may destroy *f: nothing after
}

dft_status fan_out_run(dft_task* task, void* context) {
  auto* f = static_cast<FanOut*>(context);
  f->self = task;
  try {
    for (int p = 0; p < f->parts; ++p) {
      std::int64_t lo = f->n * p / f->parts, hi = f->n * (p + 1) / f->parts;
      f->children.push_back(f->rt.submit("fan_out.part", [lo, hi]() -> std::int64_t {
        std::int64_t s = 0;
        for (std::int64_t i = lo; i < hi; ++i) s += i * i;
        return s;
      }));
    }
    f->all = ext::when_all(f->children);
    ext::check(ext::api().add_done_callback(f->all.get(), &fan_out_done, f));
  } catch (const std::exception& e) {
    return ext::api().complete_error(task, e.what());
  }
  return DFT_PENDING;  // completed by fan_out_done, maybe already
}

py::object fan_out_sum(py::object runtime, std::int64_t n, int parts) {
  if (n < 0 || parts < 1) throw std::invalid_argument("need n >= 0 and parts >= 1");
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  auto* ctx = new FanOut{rt, n, parts, nullptr, {}, {}};
  dft_task* out = nullptr;
  ext::check(ext::api().submit(
      rt.get(), "fan_out_sum", DFT_POOL_COMPUTE, &fan_out_run, ctx, [](void* c) { delete static_cast<FanOut*>(c); },
      &out));
  return to_handle(ext::TaskRef(out));
}

// This extension's own coroutine awaits a when_any of work on the pool.
Fire first_on_pool(std::vector<ext::TaskRef> inputs, std::promise<std::int64_t>* out) {
  ext::TaskRef any = ext::when_any(inputs);
  co_await any;
  out->set_value(any.int64());
}

std::int64_t first_via_coroutine(py::object runtime, const std::vector<std::int64_t>& values,
                                 const std::vector<std::shared_ptr<Gate>>& gates) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  std::promise<std::int64_t> result;
  auto future = result.get_future();
  first_on_pool(gated_inputs(rt, values, gates, -1), &result);
  py::gil_scoped_release nogil;
  return future.get();
}

// The raw status of a combinator call with bad arguments: "empty", "null"
// (a null entry) or "mixed" (tasks of `runtime` and of `other`).
int combinator_status(py::object runtime, py::object other, const std::string& what, bool any) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  const dft_c_api& a = ext::api();
  auto call = a.when_any;
  if (!any) call = a.when_all;
  std::vector<ext::TaskRef> keep;
  std::vector<dft_task*> raw;
  if (what == "null") {
    keep.push_back(rt.submit("x", [] {}));
    raw = {keep[0].get(), nullptr};
  } else if (what == "mixed") {
    ext::Runtime rt2 = ext::Runtime::from_python(other.ptr());
    keep.push_back(rt.submit("x", [] {}));
    keep.push_back(rt2.submit("y", [] {}));
    raw = {keep[0].get(), keep[1].get()};
  } else if (what != "empty") {
    throw std::invalid_argument("unknown case " + what);
  }
  dft_task* out = nullptr;
  dft_status st = call(raw.data(), raw.size(), &out);
  if (out) a.release(out);
  for (ext::TaskRef& t : keep) t.wait();
  return st;
}

// What an extension built against this header says when the loaded table is
// older than an entry it needs: a copy of the live table, cut to `size`.
void require_when_all_from_table_of(std::uint32_t size, std::uint16_t minor) {
  dft_c_api table = ext::api();
  table.struct_size = size;
  table.minor = minor;
  ext::require_entry(table, DFTRACER_EXT_ENTRY_END(when_all), 1, "ext::when_all");
}

}  // namespace

PYBIND11_MODULE(dftracer_native_example, m) {
  m.doc() = "Example of native tasks submitted to dftracer.utils through its C ABI.";
  m.def("checksum_files", &checksum_files, py::arg("runtime"), py::arg("paths"));
  m.def("sum_of_squares", &sum_of_squares, py::arg("runtime"), py::arg("n"), py::arg("parts") = 8);
  m.def("fail_with", &fail_with, py::arg("runtime"), py::arg("message"));
  m.def("greet", &greet, py::arg("runtime"), py::arg("who"));
  m.def("double_via_coroutine", &double_via_coroutine, py::arg("runtime"), py::arg("x"));
  m.def("submit_after_shutdown", &submit_after_shutdown, py::arg("runtime"));
  m.def(
      "import_with_major", [](int major) { ext::import_api(static_cast<std::uint16_t>(major)); },
      "Imports the C ABI expecting `major`; raises RuntimeError on a mismatch.");
  py::class_<Gate, std::shared_ptr<Gate>>(m, "Gate", "A latch native tasks wait on until Python opens it.")
      .def(py::init<bool>(), py::arg("opened") = false)
      .def("open", &Gate::open);
  m.def("when_any_of", &when_any_of, py::arg("runtime"), py::arg("values"), py::arg("gates"), py::arg("fail_at") = -1);
  m.def("when_all_of", &when_all_of, py::arg("runtime"), py::arg("values"), py::arg("gates"), py::arg("fail_at") = -1);
  m.def("fan_out_sum", &fan_out_sum, py::arg("runtime"), py::arg("n"), py::arg("parts") = 8);
  m.def("first_via_coroutine", &first_via_coroutine, py::arg("runtime"), py::arg("values"), py::arg("gates"));
  m.def("combinator_status", &combinator_status, py::arg("runtime"), py::arg("other"), py::arg("what"), py::arg("any"));
  m.def("require_when_all_from_table_of", &require_when_all_from_table_of, py::arg("size"), py::arg("minor"));
  m.attr("C_API_MAJOR") = DFT_C_API_MAJOR;
  m.attr("C_API_MINOR") = DFT_C_API_MINOR;
  m.attr("BUILT_STRUCT_SIZE") = static_cast<int>(sizeof(dft_c_api));
  m.attr("V1_0_STRUCT_SIZE") = static_cast<int>(offsetof(dft_c_api, when_all));  // where 1.0's table ended
  m.attr("DFT_OK") = static_cast<int>(DFT_OK);
  m.attr("DFT_BAD_ARGUMENT") = static_cast<int>(DFT_BAD_ARGUMENT);
  m.attr("DFT_SHUT_DOWN") = static_cast<int>(DFT_SHUT_DOWN);
}
