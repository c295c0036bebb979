// Python callables' source locations (see task_location.hpp).
#include "task_location.hpp"

#include <deque>
#include <new>
#include <string>
#include <unordered_map>

namespace dftracer::utils::python {

namespace {
// Code objects seen so far -> their interned "file:line". Each key holds a
// strong reference, so a freed code object's address can never be reused
// for another entry. Bounded: past the cap, new code objects get no
// location (exec-generated code in a loop must not grow memory forever).
// Guarded by the GIL (every caller holds it).
constexpr std::size_t kMaxCodeObjects = 1u << 16;

struct Interned {
  std::unordered_map<PyObject*, const char*> by_code;
  std::deque<std::string> strings;  // a deque never moves its elements
};

Interned& interned() {
  // Leaked on purpose: the strings must outlive every runtime's snapshots,
  // and the references must not be dropped after the interpreter finalizes.
  static Interned* table = new Interned();
  return *table;
}

PyTypeObject* partial_type() {
  static PyTypeObject* type = [] {
    PyObject* mod = PyImport_ImportModule("functools");
    PyObject* t = mod ? PyObject_GetAttrString(mod, "partial") : nullptr;
    Py_XDECREF(mod);
    if (!t) PyErr_Clear();
    return reinterpret_cast<PyTypeObject*>(t);  // kept for the process's life
  }();
  return type;
}

// A new reference to the attribute, or null with the error cleared.
PyObject* attr(PyObject* obj, const char* name) {
  PyObject* v = PyObject_GetAttrString(obj, name);
  if (!v) PyErr_Clear();
  return v;
}

// A new reference to the code object `fn` runs, or null.
PyObject* code_of(PyObject* fn) {
  Py_INCREF(fn);
  for (int depth = 0; depth < 8 && fn; ++depth) {
    PyObject* next = nullptr;
    if (PyFunction_Check(fn)) {
      PyObject* code = PyFunction_GET_CODE(fn);
      Py_INCREF(code);
      Py_DECREF(fn);
      return code;
    }
    if (PyMethod_Check(fn)) {
      next = PyMethod_GET_FUNCTION(fn);
      Py_INCREF(next);
    } else if (PyCFunction_Check(fn)) {
      next = nullptr;  // no Python source
    } else if (partial_type() && PyObject_TypeCheck(fn, partial_type())) {
      next = attr(fn, "func");
    } else if (PyType_Check(fn)) {
      next = attr(fn, "__init__");  // a class: where its instances are set up
    } else {
      PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(fn));
      next = attr(type, "__call__");  // an instance with __call__
    }
    Py_DECREF(fn);
    fn = next;
  }
  Py_XDECREF(fn);
  return nullptr;
}

const char* intern(PyObject* code) {
  Interned& table = interned();
  if (auto it = table.by_code.find(code); it != table.by_code.end()) return it->second;
  if (table.by_code.size() >= kMaxCodeObjects) return nullptr;
  PyObject* file = attr(code, "co_filename");
  PyObject* line = attr(code, "co_firstlineno");
  const char* result = nullptr;
  if (file && line && PyUnicode_Check(file) && PyLong_Check(line)) {
    const char* path = PyUnicode_AsUTF8(file);
    long lineno = PyLong_AsLong(line);
    if (path && !PyErr_Occurred()) {
      try {
        table.strings.push_back(std::string(path) + ":" + std::to_string(lineno));
        result = table.strings.back().c_str();
        table.by_code.emplace(code, result);
        Py_INCREF(code);  // the key's reference (see Interned)
      } catch (const std::bad_alloc&) {
        result = nullptr;  // no location is better than a failed submit
      }
    }
  }
  if (PyErr_Occurred()) PyErr_Clear();
  Py_XDECREF(file);
  Py_XDECREF(line);
  return result;
}
}  // namespace

const char* python_location(PyObject* fn) noexcept {
  // The common case without a reference count change: a plain function.
  if (PyFunction_Check(fn)) {
    Interned& table = interned();
    PyObject* code = PyFunction_GET_CODE(fn);
    if (auto it = table.by_code.find(code); it != table.by_code.end()) return it->second;
    return intern(code);
  }
  PyObject* code = code_of(fn);
  if (!code) return nullptr;
  const char* result = intern(code);
  Py_DECREF(code);
  return result;
}

}  // namespace dftracer::utils::python
