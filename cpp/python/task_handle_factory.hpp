// Builds dftracer.utils.TaskHandle objects from C++ without running the
// Python __init__ (which validates user input we already know is right):
// submit is the hot path. The package registers the class at import.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace dftracer::utils::python {

// Called once by python/dftracer/utils/task_handle.py.
void register_task_handle_type(pybind11::handle type);

// GIL held. TaskHandle(native=native, name=name) without the checks.
pybind11::object make_task_handle(pybind11::object native, const std::string& name);

}  // namespace dftracer::utils::python
