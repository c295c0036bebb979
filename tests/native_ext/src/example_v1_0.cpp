// dftracer_native_example_v1_0: an extension built against the frozen 1.0
// headers of the C ABI (tests/native_ext/abi_1_0), loaded by a newer
// dftracer.utils. It proves the versioning promise of c_api.h: a consumer
// built for an older minor keeps loading and working, because entries are
// only ever appended (its smaller table view is a prefix of the new one).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "dftracer/utils/c_api.hpp"

static_assert(DFT_C_API_MAJOR == 1 && DFT_C_API_MINOR == 0, "this module must see the frozen 1.0 headers");

namespace py = pybind11;
namespace ext = dftracer::utils::ext;

namespace {

py::object to_handle(const ext::Task& t) { return py::reinterpret_steal<py::object>(t.to_python()); }

// n * n on the pool, as a 1.0 extension would write it.
py::object square(py::object runtime, std::int64_t n) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  return to_handle(rt.submit("square", [n]() -> std::int64_t { return n * n; }));
}

// Submits a child and waits for it from inside a task (1.0 entries only).
py::object nested(py::object runtime, std::int64_t x) {
  ext::Runtime rt = ext::Runtime::from_python(runtime.ptr());
  return to_handle(rt.submit("nested", [rt, x]() -> std::int64_t {
    ext::Task child = rt.submit("nested.child", [x]() -> std::int64_t { return x + 1; });
    child.wait();
    return child.int64() * 10;
  }));
}

// (major, minor, struct_size) of the table actually loaded.
py::tuple loaded_version() {
  const dft_c_api& a = ext::api();
  return py::make_tuple(a.major, a.minor, a.struct_size);
}

}  // namespace

PYBIND11_MODULE(dftracer_native_example_v1_0, m) {
  m.doc() = "An extension built against C ABI 1.0, for the compatibility tests.";
  m.def("square", &square, py::arg("runtime"), py::arg("n"));
  m.def("nested", &nested, py::arg("runtime"), py::arg("x"));
  m.def("loaded_version", &loaded_version);
  m.attr("BUILT_MAJOR") = DFT_C_API_MAJOR;
  m.attr("BUILT_MINOR") = DFT_C_API_MINOR;
  m.attr("BUILT_STRUCT_SIZE") = static_cast<int>(sizeof(dft_c_api));
}
