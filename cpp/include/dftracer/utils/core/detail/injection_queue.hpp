// The shared FIFO for work that does not come from a worker of the pool:
// submissions from outside threads, yields, hops from the other pool.
//
// A mutex around a growable ring: uncontended lock+unlock is ~6 ns here, and
// workers take items in batches (pop_batch) so one lock serves many tasks.
// `size_` is read without the lock by idle workers deciding whether to look.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "dftracer/utils/core/detail/work_item.hpp"

namespace dftracer::utils {

class InjectionQueue {
 public:
  InjectionQueue() : ring_(1024) {}

  void push(WorkItem item) {
    std::lock_guard lock(mu_);
    if (count_ == ring_.size()) grow();
    ring_[(head_ + count_) & (ring_.size() - 1)] = item;
    ++count_;
    // seq_cst: pairs with the seq_cst load in has_work() on a worker that is
    // about to park (store-load order; see IdleCoordinator).
    size_.store(count_, std::memory_order_seq_cst);
  }

  // Hands up to `max` items, oldest first, to `sink`; returns how many.
  template <class Sink>
  std::size_t pop_batch(std::size_t max, Sink&& sink) {
    if (empty_hint()) return 0;
    std::lock_guard lock(mu_);
    std::size_t n = count_ < max ? count_ : max;
    for (std::size_t i = 0; i < n; ++i) {
      sink(ring_[head_]);
      head_ = (head_ + 1) & (ring_.size() - 1);
    }
    count_ -= n;
    size_.store(count_, std::memory_order_release);
    return n;
  }

  WorkItem pop() {
    WorkItem item;
    pop_batch(1, [&](WorkItem w) { item = w; });
    return item;
  }

  bool empty_hint() const noexcept { return size_.load(std::memory_order_acquire) == 0; }
  // The check a parking worker makes; seq_cst, see push().
  bool has_work() const noexcept { return size_.load(std::memory_order_seq_cst) != 0; }
  std::size_t size_hint() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  void grow() {
    std::vector<WorkItem> bigger(ring_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_.swap(bigger);
    head_ = 0;
  }

  std::mutex mu_;
  std::vector<WorkItem> ring_;  // capacity is a power of two
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::atomic<std::size_t> size_{0};
};

}  // namespace dftracer::utils
