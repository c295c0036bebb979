// Exception types the runtime throws, so callers can catch them precisely.
#pragma once

#include <stdexcept>
#include <string>

namespace dftracer::utils {

// submit() on a runtime that is shutting down or shut down.
class RuntimeShutdownError : public std::runtime_error {
 public:
  RuntimeShutdownError() : std::runtime_error("dftracer.utils runtime is shut down") {}
};

// get() on a task that was cancelled before it ran.
class TaskCancelledError : public std::runtime_error {
 public:
  explicit TaskCancelledError(const std::string& task_name)
      : std::runtime_error("task '" + task_name + "' was cancelled") {}
};

// get() on a task that passed its deadline.
class TaskTimeoutError : public std::runtime_error {
 public:
  explicit TaskTimeoutError(const std::string& message) : std::runtime_error(message) {}
};

// The system refused to start one of the runtime's threads; the message
// names the limit (see thread_start.hpp).
class ThreadStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dftracer::utils
