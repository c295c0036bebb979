// sync_wait: run a Task on a runtime from a thread outside the pool and
// block until it finishes (the bridge from ordinary code into coroutines).
// It is an ordinary submitted task (named "sync_wait" unless told), so it
// shows in progress like any other.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils {

template <class T>
T sync_wait(Runtime& runtime, Task<T> task, std::string name = "sync_wait") {
  TaskHandle<T> handle = runtime.submit(std::move(task), std::move(name));
  if constexpr (std::is_void_v<T>) {
    handle.get();
  } else {
    // get() hands out a const reference; we hold the only handle, so the
    // value can be moved out (move-only T works).
    return std::move(const_cast<T&>(handle.get()));
  }
}

}  // namespace dftracer::utils
