// A task whose body returns without finishing; a foreign thread completes it
// later, as the C ABI's DFT_PENDING tasks are. Shared by the reliability and
// chaos tests.
#pragma once

#include <atomic>

#include "dftracer/utils/core/task_handle.hpp"

namespace dftracer::utils::test {

class PendingTask final : public TypedTaskState<void> {
 public:
  using TypedTaskState<void>::TypedTaskState;
  std::atomic<bool> started{false};

 protected:
  void run() override { started.store(true, std::memory_order_release); }
};

}  // namespace dftracer::utils::test
