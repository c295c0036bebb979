// Umbrella header: everything a C++ user of the runtime needs.
#pragma once

#include "dftracer/utils/core/errors.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/fork_join.hpp"
#include "dftracer/utils/core/pool_hop.hpp"
#include "dftracer/utils/core/registry.hpp"
#include "dftracer/utils/core/runtime.hpp"
#include "dftracer/utils/core/sync_wait.hpp"
#include "dftracer/utils/core/task.hpp"
#include "dftracer/utils/core/task_handle.hpp"
#include "dftracer/utils/core/task_state.hpp"
