// Tearing down a Runtime whose last Python reference was dropped on one of
// its own threads (inside a task or an error callback): that thread cannot
// join itself, so a reaper thread waits for it to finish and destroys the
// runtime. Reapers are counted, so interpreter exit can wait for them
// (within its grace period) instead of racing them.
#pragma once

#include <chrono>
#include <memory>

#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils::python {

// Destroys `runtime` on a new thread. When the system refuses the thread,
// the runtime is abandoned instead (leaked, its threads left to run out);
// returns false then.
bool reap_elsewhere(std::unique_ptr<Runtime> runtime) noexcept;

// Blocks (GIL not held) until every reaper has finished or `timeout` passes;
// true when none is left.
bool wait_for_reapers(std::chrono::nanoseconds timeout) noexcept;

}  // namespace dftracer::utils::python
