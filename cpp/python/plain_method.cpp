// Plain CPython methods on pybind11 classes (see plain_method.hpp).
#include "plain_method.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

void add_plain_method(py::handle cls, PyMethodDef* def) {
  // The descriptor admits only instances of `cls` as self, so the method
  // may cast self to the class's C++ type.
  auto method = py::reinterpret_steal<py::object>(PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), def));
  if (!method || PyObject_SetAttrString(cls.ptr(), def->ml_name, method.ptr()) != 0) throw py::error_already_set();
}

}  // namespace dftracer::utils::python
