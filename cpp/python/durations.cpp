// Python values to durations (see durations.hpp).
#include "durations.hpp"

#include <stdexcept>
#include <string>

#include "dftracer/utils/core/durations.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

std::chrono::nanoseconds duration_from_python(py::handle value, const char* what) {
  if (value.is_none()) return std::chrono::nanoseconds(0);
  try {
    if (PyBool_Check(value.ptr())) {
      throw py::type_error(std::string(what) + " must be milliseconds (a number) or a string with a unit, not bool");
    }
    if (PyLong_Check(value.ptr()) || PyFloat_Check(value.ptr())) {
      return duration_from_ms(value.cast<double>());
    }
    if (PyUnicode_Check(value.ptr())) return parse_duration(value.cast<std::string>());
  } catch (const std::invalid_argument& e) {
    throw py::value_error(std::string(what) + ": " + e.what());
  }
  throw py::type_error(std::string(what) +
                       " must be milliseconds (a number) or a string such as \"250ms\" or \"30s\", not " +
                       std::string(Py_TYPE(value.ptr())->tp_name));
}

}  // namespace dftracer::utils::python
