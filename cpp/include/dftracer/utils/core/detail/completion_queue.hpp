// CompletionQueue: keys of finished tasks, in the order they finished.
//
// The engine side of "tell me as tasks finish" (as_completed, wait and
// unordered map in Python): watch(task, key) puts a node on the task's
// awaiter list; the thread that finishes the task pushes the node on a
// lock-free stack and, only if a consumer sleeps, wakes it with a futex. The
// finishing thread runs no user code and takes no lock, so this is safe on
// any thread (workers, the watchdog, foreign completers) and costs it a CAS
// and a load. No thread waits per task and nothing polls.
//
// One consumer at a time (callers serialise try_pop/ready, e.g. with the
// GIL); any number of producers. Destroying the queue closes it: nodes of
// tasks still running free themselves when those tasks finish, so a queue
// may be dropped with watches outstanding.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

class CompletionQueue {
 public:
  CompletionQueue();
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // `key` becomes ready once `task` is final (at once if it already is).
  void watch(TaskState& task, std::uint64_t key);
  // `key` becomes ready now (for completions the engine does not see).
  void post(std::uint64_t key);

  // Consumer side. The oldest ready key, without waiting.
  std::optional<std::uint64_t> try_pop();
  // Keys ready now (moves what finished since the last look to the ready list).
  std::size_t ready();
  // After try_pop() found nothing: sleeps until a task finishes (or a post)
  // or `timeout` passes; true when try_pop() now has a key. Touches only the
  // shared stack, so it may run while another thread holds the consumer
  // role (the binding waits with the GIL released).
  bool wait(std::chrono::nanoseconds timeout) noexcept;

  struct Shared;
  struct Node;

 private:
  void take_stack();

  std::shared_ptr<Shared> shared_;
  std::deque<Node*> ready_;  // oldest first; consumer only
};

}  // namespace dftracer::utils
