// The lifecycle of a submitted task. queued -> running -> one of the final
// states; queued -> cancelled when cancelled before it ran.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dftracer::utils {

enum class TaskStatus : std::uint8_t { queued, running, completed, failed, cancelled, timed_out };

constexpr std::string_view to_string(TaskStatus s) noexcept {
  switch (s) {
    case TaskStatus::queued:
      return "queued";
    case TaskStatus::running:
      return "running";
    case TaskStatus::completed:
      return "completed";
    case TaskStatus::failed:
      return "failed";
    case TaskStatus::cancelled:
      return "cancelled";
    case TaskStatus::timed_out:
      return "timed_out";
  }
  return "unknown";
}

constexpr bool is_final(TaskStatus s) noexcept { return s != TaskStatus::queued && s != TaskStatus::running; }

// The name of a task submitted without one: formatted when read, never at
// submit (it cost ~200 instructions per task, and most names are never read).
inline std::string automatic_task_name(std::uint64_t id) { return "task-" + std::to_string(id); }

// A task's name for display: as given, or the automatic one.
inline std::string display_task_name(std::uint64_t id, const std::string& given) {
  return given.empty() ? automatic_task_name(id) : given;
}

}  // namespace dftracer::utils
