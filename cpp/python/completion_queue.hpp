// _CompletionQueue: the engine's CompletionQueue for Python (see
// cpp/python/completion_queue.cpp).
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

void register_completion_queue(pybind11::module_& m);

}  // namespace dftracer::utils::python
