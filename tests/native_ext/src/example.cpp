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
#include <coroutine>
#include <cstdint>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
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

py::object to_handle(const ext::Task& t) { return py::reinterpret_steal<py::object>(t.to_python()); }

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// One I/O-pool task per file; each returns the file's CRC-32 as an int.
py::list checksum_files(py::object runtime, const std::vector<std::string>& paths) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  py::list handles;
  for (const std::string& path : paths) {
    ext::Task task = rt.submit(
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
  ext::Task parent = rt.submit("sum_of_squares", [rt, n, parts](ext::TaskContext& ctx) -> std::int64_t {
    std::vector<ext::Task> children;
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
    for (ext::Task& child : children) {
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
  ext::Task t = rt.submit("double", [x]() -> std::int64_t { return 2 * x; });
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
  m.attr("C_API_MAJOR") = DFT_C_API_MAJOR;
  m.attr("DFT_SHUT_DOWN") = static_cast<int>(DFT_SHUT_DOWN);
}
