// _NativeTaskHandle.add_done_callback: a Python callable run once, after the
// task became final (see done_callbacks.cpp for which thread runs it).
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

// Adds add_done_callback to _NativeTaskHandle (called from module.cpp).
void register_done_callbacks(pybind11::module_& m);

}  // namespace dftracer::utils::python
