// _CompletionQueue: finished tasks in the order they finished, for
// dftracer.utils.as_completed, wait and map(ordered=False).
//
// watch(handle, key) puts a node on the task's awaiter list; the thread that
// finishes the task pushes the node on a lock-free stack and, if the
// consumer sleeps, wakes it with a futex. That thread never touches Python
// (no GIL, no user code), so this is safe on any thread, the watchdog and
// foreign completers included, and costs a finishing worker a CAS and a
// load. get() pops keys oldest first, waiting with the GIL released.
//
// Keys are the caller's (Python keeps key -> handle); a node holds no Python
// object. Dropping the queue closes it: nodes of tasks still running free
// themselves when those finish.
#pragma once

#include <pybind11/pybind11.h>

namespace dftracer::utils::python {

void register_completion_queue(pybind11::module_& m);

}  // namespace dftracer::utils::python
