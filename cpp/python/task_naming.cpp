// Default task names (see task_naming.hpp).
#include "task_naming.hpp"

#include <cstddef>
#include <utility>

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {
// An interned attribute name, made once (GIL held on first use). Leaked on
// purpose: it lives as long as the interpreter uses the module.
PyObject* interned(const char* text) { return PyUnicode_InternFromString(text); }

// A str attribute of `obj`, or null (errors cleared): odd callables may raise
// from __getattr__, and that must not fail a submit.
py::object str_attr(py::handle obj, PyObject* name) {
  PyObject* v = PyObject_GetAttr(obj.ptr(), name);
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

std::string join_name(const py::object& qualname, const py::object& module) {
  std::string name = qualname.cast<std::string>();
  if (module) {
    std::string mod = module.cast<std::string>();
    if (!mod.empty() && mod != "__main__") return mod + "." + name;
  }
  return name;
}

// Names made from a (qualname, module) pair, most recent first. Guarded by
// the GIL (every caller holds it, and nothing below runs Python code between
// reading and writing an entry). The entries keep their key strs alive, so a
// key's address cannot be reused by another str while it is cached. Leaked
// at exit on purpose, like the interned names.
struct NameCacheEntry {
  PyObject* qualname = nullptr;  // strong references
  PyObject* module = nullptr;
  TaskName name;
};
constexpr std::size_t kNameCacheSize = 4;
NameCacheEntry* name_cache() {
  static auto* entries = new NameCacheEntry[kNameCacheSize];
  return entries;
}

TaskName cached_join(const py::object& qualname, const py::object& module) {
  NameCacheEntry* cache = name_cache();
  PyObject* q = qualname.ptr();
  PyObject* m = module ? module.ptr() : nullptr;
  for (std::size_t i = 0; i < kNameCacheSize; ++i) {
    if (cache[i].qualname == q && cache[i].module == m) {
      if (i != 0) std::swap(cache[i], cache[0]);
      return cache[0].name;
    }
  }
  std::string text = join_name(qualname, module);
  py::str str(text);
  // The oldest entry goes; its strs are released after the new ones are held.
  NameCacheEntry evicted = std::move(cache[kNameCacheSize - 1]);
  for (std::size_t i = kNameCacheSize - 1; i > 0; --i) cache[i] = std::move(cache[i - 1]);
  Py_INCREF(q);
  Py_XINCREF(m);
  cache[0].qualname = q;
  cache[0].module = m;
  cache[0].name = TaskName{text, str};
  Py_XDECREF(evicted.qualname);
  Py_XDECREF(evicted.module);
  return TaskName{std::move(text), std::move(str)};
}
}  // namespace

TaskName derive_task_name_for_submit(py::handle fn) {
  static PyObject* const kFunc = interned("func");
  static PyObject* const kQualname = interned("__qualname__");
  static PyObject* const kModule = interned("__module__");
  py::object target = py::reinterpret_borrow<py::object>(fn);
  for (int depth = 0; depth < 64 && PyObject_TypeCheck(target.ptr(), partial_type()); ++depth) {
    PyObject* inner = PyObject_GetAttr(target.ptr(), kFunc);
    if (!inner) {
      PyErr_Clear();
      break;
    }
    target = py::reinterpret_steal<py::object>(inner);
  }
  py::object qualname = str_attr(target, kQualname);
  py::object module;
  if (qualname) {
    module = str_attr(target, kModule);
  } else {
    py::handle type = reinterpret_cast<PyObject*>(Py_TYPE(target.ptr()));
    qualname = str_attr(type, kQualname);
    module = str_attr(type, kModule);
    if (!qualname) {
      std::string text = Py_TYPE(target.ptr())->tp_name;
      py::str str(text);
      return TaskName{std::move(text), std::move(str)};
    }
  }
  return cached_join(qualname, module);
}

TaskName submit_task_name(py::handle fn, py::handle name) {
  if (name.is_none()) return derive_task_name_for_submit(fn);
  return TaskName{name.cast<std::string>(), py::reinterpret_borrow<py::object>(name)};
}

std::string derive_task_name(py::handle fn) { return derive_task_name_for_submit(fn).text; }

}  // namespace dftracer::utils::python
