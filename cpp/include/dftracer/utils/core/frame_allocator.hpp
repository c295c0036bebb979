// Per-thread recycling allocator for coroutine frames.
//
// A heap frame costs ~12 ns here (NOTES.md); fork-join creates one frame per
// child, so frames come from small per-thread free lists instead, one list per
// 64-byte size class. A frame freed on another thread goes to that thread's
// list: memory migrates between workers but is never lost, and each list is
// capped so a producer/consumer imbalance cannot hoard memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace dftracer::utils::detail {

class FramePool {
 public:
  static constexpr std::size_t kGranule = 64;
  static constexpr std::size_t kClasses = 32;  // frames up to 2 KiB are pooled
  static constexpr std::uint32_t kMaxCachedPerClass = 1024;

  static void* allocate(std::size_t size) {
    std::size_t cls = class_of(size);
    if (cls >= kClasses) return ::operator new(size);
    FramePool& pool = local();
    // Full class size even unpooled: another thread may free it into its
    // list for this class, and hand it out for any size in the class.
    if (!pool.alive_) return ::operator new((cls + 1) * kGranule);
    if (FreeFrame* f = pool.free_[cls]) {
      pool.free_[cls] = f->next;
      --pool.count_[cls];
      return f;
    }
    return ::operator new((cls + 1) * kGranule);
  }

  static void deallocate(void* p, std::size_t size) noexcept {
    std::size_t cls = class_of(size);
    if (cls >= kClasses) {
      ::operator delete(p);
      return;
    }
    FramePool& pool = local();
    if (!pool.alive_ || pool.count_[cls] >= kMaxCachedPerClass) {
      ::operator delete(p);
      return;
    }
    auto* f = static_cast<FreeFrame*>(p);
    f->next = pool.free_[cls];
    pool.free_[cls] = f;
    ++pool.count_[cls];
  }

  ~FramePool();

 private:
  struct FreeFrame {
    FreeFrame* next;
  };

  static constexpr std::size_t class_of(std::size_t size) noexcept {
    return size == 0 ? 0 : (size - 1) / kGranule;
  }

  // Defined in frame_allocator.cpp so there is exactly one pool per thread
  // even when several shared objects include this header.
  static FramePool& local() noexcept;

  FreeFrame* free_[kClasses] = {};
  // Cleared by the destructor: a frame freed during thread exit, after the
  // pool is gone, goes straight back to the heap.
  bool alive_ = true;
  std::uint32_t count_[kClasses] = {};
};

// Base for coroutine promises: routes frame allocation through FramePool.
struct FrameAllocated {
  static void* operator new(std::size_t size) { return FramePool::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept {
    FramePool::deallocate(p, size);
  }
};

}  // namespace dftracer::utils::detail
