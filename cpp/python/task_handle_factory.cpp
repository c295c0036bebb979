// Fast TaskHandle construction (see task_handle_factory.hpp).
#include "task_handle_factory.hpp"

#include <structmember.h>  // PyMemberDef

#include <stdexcept>

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {
// Leaked on purpose: they live as long as the interpreter uses the module.
PyTypeObject* g_type = nullptr;
PyObject* g_native = nullptr;
PyObject* g_future = nullptr;
PyObject* g_name = nullptr;
PyObject* g_task_id = nullptr;
PyObject* g_no_args = nullptr;
PyObject* g_minus_one = nullptr;
// Where each slot lives in a TaskHandle (its member descriptor's offset), so
// make_task_handle stores into them the way the descriptor would, without
// four attribute lookups per submit; -1: not a plain slot, use SetAttr.
Py_ssize_t g_native_offset = -1, g_future_offset = -1, g_name_offset = -1, g_task_id_offset = -1;

Py_ssize_t slot_offset(PyTypeObject* type, PyObject* name) {
  PyObject* d = PyDict_GetItemWithError(type->tp_dict, name);  // borrowed
  if (!d) {
    PyErr_Clear();
    return -1;
  }
  if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) return -1;
  const PyMemberDef* member = reinterpret_cast<PyMemberDescrObject*>(d)->d_member;
  return member->flags == 0 ? member->offset : -1;  // writable, as __slots__ makes them
}

// Stores a new reference to `value` in the slot (dropping what was there).
bool set_slot(PyObject* obj, Py_ssize_t offset, PyObject* name, PyObject* value) {
  if (offset < 0) return PyObject_SetAttr(obj, name, value) == 0;
  auto** slot = reinterpret_cast<PyObject**>(reinterpret_cast<char*>(obj) + offset);
  PyObject* old = *slot;
  Py_INCREF(value);
  *slot = value;
  Py_XDECREF(old);
  return true;
}
}  // namespace

void register_task_handle_type(py::handle type) {
  if (!PyType_Check(type.ptr())) throw py::type_error("expected the TaskHandle class");
  // The contract, checked here, at import, not at the first submit: the
  // class stores its state in exactly these slots, which make_task_handle
  // fills without running __init__. A rename on either side fails loudly
  // now.
  static const char* const kSlots[] = {"_native", "_future", "_name", "_task_id"};
  py::object declared = py::getattr(type, "__slots__", py::none());
  for (const char* slot : kSlots) {
    bool listed = false;
    if (!declared.is_none()) {
      for (py::handle name : declared) listed = listed || py::str(name).cast<std::string>() == slot;
    }
    if (!listed || !py::hasattr(type, slot)) {
      throw py::type_error(std::string("dftracer.utils.TaskHandle must declare the slot '") + slot +
                           "' in __slots__ (the native side fills it)");
    }
  }
  Py_INCREF(type.ptr());
  g_type = reinterpret_cast<PyTypeObject*>(type.ptr());
  g_native = PyUnicode_InternFromString(kSlots[0]);
  g_future = PyUnicode_InternFromString(kSlots[1]);
  g_name = PyUnicode_InternFromString(kSlots[2]);
  g_task_id = PyUnicode_InternFromString(kSlots[3]);
  g_no_args = PyTuple_New(0);
  g_minus_one = PyLong_FromLong(-1);
  // Only for the class itself with no __setattr__ of its own: then the
  // descriptor's store is exactly what SetAttr would do.
  if (g_type->tp_setattro == PyBaseObject_Type.tp_setattro) {
    g_native_offset = slot_offset(g_type, g_native);
    g_future_offset = slot_offset(g_type, g_future);
    g_name_offset = slot_offset(g_type, g_name);
    g_task_id_offset = slot_offset(g_type, g_task_id);
  }
}

py::object make_task_handle(py::object native, py::handle name) {
  if (!g_type) throw std::logic_error("dftracer.utils.TaskHandle is not registered with _core");
  py::object obj = py::reinterpret_steal<py::object>(g_type->tp_new(g_type, g_no_args, nullptr));
  if (!obj) throw py::error_already_set();
  if (!set_slot(obj.ptr(), g_native_offset, g_native, native.ptr()) ||
      !set_slot(obj.ptr(), g_future_offset, g_future, Py_None) ||
      !set_slot(obj.ptr(), g_name_offset, g_name, name.ptr()) ||
      !set_slot(obj.ptr(), g_task_id_offset, g_task_id, g_minus_one)) {
    throw py::error_already_set();
  }
  // Exactly our class (no subclass can add a __dict__), and these slots are
  // only ever set to a str or an int afterwards (task_handle.py): no cycle
  // can pass through the handle, so the collector has nothing to find here.
  if (PyObject_IS_GC(obj.ptr())) PyObject_GC_UnTrack(obj.ptr());
  return obj;
}

}  // namespace dftracer::utils::python
