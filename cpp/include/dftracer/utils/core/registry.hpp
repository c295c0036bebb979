// Registry: what the runtime knows about submitted tasks, in bounded memory.
//
//  - live tasks (queued or running), in intrusive lists;
//  - a ring of recently finished tasks (snapshots, not the tasks themselves,
//    so results are not kept alive);
//  - cumulative totals;
//  - failures since the last clear (capped), and recent error records.
//
// Everything is split into shards by task id, each with its own mutex, so
// concurrent submitters and finishing workers rarely meet on one lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "dftracer/utils/core/runtime_defaults.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

struct TaskSnapshot {
  std::uint64_t id = 0;
  std::string name;
  TaskStatus status = TaskStatus::queued;
  std::int64_t submit_ns = 0;
  std::int64_t start_ns = 0;  // 0: not started
  std::int64_t end_ns = 0;    // 0: not finished
  std::uint64_t total_subtasks = 0;
  std::uint64_t completed_subtasks = 0;
  std::uint64_t parent_id = 0;     // 0: submitted from outside any task
  const char* location = nullptr;  // TaskState::location(); null: unknown
};

struct ErrorRecord {
  std::uint64_t task_id = 0;
  std::string task_name;
  TaskStatus status = TaskStatus::failed;
  std::string message;
  std::int64_t time_ns = 0;
};

struct RegistryTotals {
  std::uint64_t submitted = 0;
  std::uint64_t queued = 0;
  std::uint64_t running = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t timed_out = 0;
};

struct RegistryOptions {
  std::size_t recent_capacity = defaults::kRecentTasks;       // finished tasks remembered
  std::size_t failure_capacity = defaults::kFailureCapacity;  // failed handles kept until cleared
  std::size_t error_capacity = defaults::kErrorCapacity;      // error records for progress
};

// Turns a task error into a human-readable message (what(), or a hook's
// rendering for foreign exception types such as Python's).
std::string describe_error(const std::exception_ptr& error);
// Lets a binding teach describe_error about its own exception types. The
// hook returns true when it recognised the error and filled `out`.
void set_error_describer(bool (*describer)(const std::exception_ptr&, std::string& out));

class Registry {
 public:
  explicit Registry(RegistryOptions options = {});
  ~Registry();

  void on_submitted(TaskState& task);
  void on_started(TaskState& task);
  // `from`: the status the task was final from (queued: it never ran).
  void on_finished(TaskState& task, TaskStatus from);

  RegistryTotals totals() const;
  // Up to `max` live tasks (oldest ids first within a shard).
  std::vector<TaskSnapshot> live(std::size_t max) const;
  // Recently finished tasks, oldest first, at most recent_capacity.
  std::vector<TaskSnapshot> recent() const;
  std::vector<ErrorRecord> errors() const;

  // Failed (or timed-out) tasks since the last clear_failed(), in order.
  std::vector<TaskStateRef> failed() const;
  void clear_failed();
  // Failed since the previous call; for wait_all(raise_on_error=True).
  // Records (not tasks: nothing is kept alive) of the failures since the
  // previous call, at most failure_capacity, plus how many did not fit.
  struct UnreportedFailures {
    std::vector<ErrorRecord> records;
    std::uint64_t dropped = 0;
  };
  UnreportedFailures take_unreported_failures();
  std::uint64_t failures_dropped() const noexcept { return failures_dropped_.load(); }

  std::vector<TaskStateRef> live_tasks() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct alignas(64) Shard {
    mutable std::mutex mu;
    TaskState* head = nullptr;  // live tasks, newest first
    std::vector<TaskSnapshot> ring;
    std::size_t ring_next = 0;
    std::size_t ring_size = 0;
    std::uint64_t submitted = 0;
    std::uint64_t completed = 0, failed = 0, cancelled = 0, timed_out = 0;
    std::uint64_t finished_before_start = 0;  // any final status, from queued
    std::atomic<std::uint64_t> started{0};
  };
  Shard& shard_of(const TaskState& t) noexcept { return shards_[t.id() % kShards]; }

  RegistryOptions options_;
  std::array<Shard, kShards> shards_;

  mutable std::mutex failures_mu_;
  std::vector<TaskStateRef> failed_;
  std::vector<ErrorRecord> unreported_;
  std::uint64_t unreported_dropped_ = 0;
  std::vector<ErrorRecord> errors_;
  std::size_t errors_next_ = 0;
  std::atomic<std::uint64_t> failures_dropped_{0};
};

}  // namespace dftracer::utils
