// The C ABI table (c_api.h) as exported by this module: one static dft_c_api
// instance, wrapped in a capsule named DFT_C_API_CAPSULE_NAME.
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

// Adds the `_C_API` capsule to the module.
void register_c_api(pybind11::module_& m);

}  // namespace dftracer::utils::python
