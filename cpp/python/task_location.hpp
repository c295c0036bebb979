// Where a Python callable was defined ("file.py:line"), for the `location`
// of a task in progress.
//
// Computed at submit (the GIL is held there), from the callable's code
// object: one map lookup per submit once a code object has been seen. The
// strings are interned for the process's life, so task snapshots (the
// registry's ring of finished tasks) keep a plain pointer and the registry
// stays free of Python.
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

// GIL held. "co_filename:co_firstlineno" of the code `fn` runs (a function,
// a bound method, a functools.partial of one, a class's __init__ or an
// instance's __call__), or null for callables without Python source
// (builtins, C extensions). Never raises.
const char* python_location(PyObject* fn) noexcept;

}  // namespace dftracer::utils::python
