// max_pending from the bindings: how Python and C ABI submitters take their
// PendingLimit slot (see dftracer/utils/core/detail/pending_limit.hpp).
//
// The core's own admission blocks on a plain futex, which is right for C++
// callers but would deadlock a thread holding the GIL (the pending Python
// tasks need it to finish). So the bindings admit first, their own way, and
// then submit with Admission::admitted:
//  - Python submit(): waits with the GIL released, Ctrl-C raises
//    KeyboardInterrupt; try_submit() raises RuntimeFullError instead of
//    waiting (or after waiting `timeout` seconds).
//  - C ABI submit(): releases the GIL while it waits if the caller holds it.
//  - Either one, from a worker of the same runtime: admitted at once, over
//    the bound (the submitting task is itself pending; see PendingLimit).
#pragma once

#include <pybind11/pybind11.h>

#include <optional>

#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils::python {

// GIL held. Takes a slot for one Python submission. `room_timeout`:
// nullopt waits as long as it takes, 0 never waits, otherwise seconds.
// Raises RuntimeFullError when no slot came in time, KeyboardInterrupt (or
// whatever a signal handler raises) when interrupted.
void admit_python(Runtime& runtime, std::optional<double> room_timeout);

// Any thread, GIL held or not. Takes a slot for one C ABI submission.
void admit_foreign(Runtime& runtime) noexcept;

// Registers RuntimeFullError and the max_pending / pending properties of
// _NativeRuntime (called from module.cpp).
void register_pending_admission(pybind11::module_& m);

}  // namespace dftracer::utils::python
