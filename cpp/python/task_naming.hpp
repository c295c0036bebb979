// Default task names derived from a Python callable (the rule is documented
// in python/dftracer/utils/naming.py, which calls this): __qualname__,
// prefixed by __module__ unless that is __main__; functools.partial takes
// its function's name; an object without __qualname__ uses its type's.
// In C++ because it runs on every submit.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace dftracer::utils::python {

// GIL held. Never throws for odd objects: falls back to the type's name.
std::string derive_task_name(pybind11::handle fn);

}  // namespace dftracer::utils::python
