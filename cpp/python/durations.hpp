// Durations from Python for the timeout setters and watchdog thresholds: a
// number is milliseconds, a string may carry its unit ("250ms", "30s",
// "5m", "1h"), None means "none" (zero). Bad values raise ValueError, a
// wrong type TypeError.
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>

namespace dftracer::utils::python {

std::chrono::nanoseconds duration_from_python(pybind11::handle value, const char* what);

}  // namespace dftracer::utils::python
