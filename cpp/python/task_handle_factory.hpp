// Builds dftracer.utils.TaskHandle objects from C++ without running the
// Python __init__ (which validates user input we already know is right):
// submit is the hot path. The package registers the class at import.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace dftracer::utils::python {

// Called once by python/dftracer/utils/task_handle.py.
void register_task_handle_type(pybind11::handle type);

// GIL held. TaskHandle(native=native, name=name) without the checks; `name`
// is a str. The handle is not tracked by the cyclic garbage collector: what
// it refers to (the native handle, None, a str, an int) can never lead back
// to it, and a tracked handle costs every collection a visit (with 100k
// handles alive, ~1 us per submit went to the collector).
pybind11::object make_task_handle(pybind11::object native, pybind11::handle name);

}  // namespace dftracer::utils::python
