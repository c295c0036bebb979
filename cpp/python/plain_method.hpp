// Plain CPython methods on pybind11 classes, for the few calls that run once
// per task from Python (submit, get, done): pybind11's argument dispatch
// costs ~170-360 ns a call here, a METH_NOARGS or METH_FASTCALL method ~40.
// Such a method converts nothing and must never let a C++ exception out.
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

// Sets `def` (static storage: CPython keeps the pointer) as a method of the
// class `cls`, replacing any attribute of that name. Throws
// pybind11::error_already_set on failure.
void add_plain_method(pybind11::handle cls, PyMethodDef* def);

}  // namespace dftracer::utils::python
