// Default task names (see task_naming.hpp).
#include "task_naming.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {
// A str attribute of `obj`, or null (errors cleared): odd callables may raise
// from __getattr__, and that must not fail a submit.
py::object str_attr(py::handle obj, const char* name) {
  PyObject* v = PyObject_GetAttrString(obj.ptr(), name);
  if (!v) {
    PyErr_Clear();
    return py::object();
  }
  if (!PyUnicode_Check(v)) {
    Py_DECREF(v);
    return py::object();
  }
  return py::reinterpret_steal<py::object>(v);
}

PyTypeObject* partial_type() {
  // Looked up once; functools is always importable. Intentionally leaked:
  // a type object outlives the interpreter's use of this module.
  static PyTypeObject* type = [] {
    py::object t = py::module_::import("functools").attr("partial");
    return reinterpret_cast<PyTypeObject*>(t.release().ptr());
  }();
  return type;
}
}  // namespace

std::string derive_task_name(py::handle fn) {
  py::object target = py::reinterpret_borrow<py::object>(fn);
  for (int depth = 0; depth < 64 && PyObject_TypeCheck(target.ptr(), partial_type()); ++depth) {
    PyObject* inner = PyObject_GetAttrString(target.ptr(), "func");
    if (!inner) {
      PyErr_Clear();
      break;
    }
    target = py::reinterpret_steal<py::object>(inner);
  }
  py::object qualname = str_attr(target, "__qualname__");
  py::object module;
  if (qualname) {
    module = str_attr(target, "__module__");
  } else {
    py::handle type = reinterpret_cast<PyObject*>(Py_TYPE(target.ptr()));
    qualname = str_attr(type, "__qualname__");
    module = str_attr(type, "__module__");
    if (!qualname) return Py_TYPE(target.ptr())->tp_name;
  }
  std::string name = qualname.cast<std::string>();
  if (module) {
    std::string mod = module.cast<std::string>();
    if (!mod.empty() && mod != "__main__") return mod + "." + name;
  }
  return name;
}

}  // namespace dftracer::utils::python
