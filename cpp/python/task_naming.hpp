// Default task names derived from a Python callable (the rule is documented
// in python/dftracer/utils/naming.py, which calls this): __qualname__,
// prefixed by __module__ unless that is __main__; functools.partial takes
// its function's name; an object without __qualname__ uses its type's.
// In C++ because it runs on every submit.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace dftracer::utils::python {

// A task's name as the engine keeps it and as its Python handle shows it.
struct TaskName {
  std::string text;
  pybind11::object str;  // the same name as a Python str
};

// GIL held. Never throws for odd objects: falls back to the type's name.
// Remembers the last few callables' names by the identity of their
// __qualname__ and __module__ strs (a submit loop names the same function
// again and again), so a repeat costs two attribute reads and no string
// building; the str is shared by every handle named from it.
TaskName derive_task_name_for_submit(pybind11::handle fn);
// The name a submit gives its task: `name` (a str) when given, else the
// derived one. GIL held; `name` is None or a str (the caller checked).
TaskName submit_task_name(pybind11::handle fn, pybind11::handle name);
// The same name as text (naming.py's default_task_name).
std::string derive_task_name(pybind11::handle fn);

}  // namespace dftracer::utils::python
