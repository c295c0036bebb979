// Per-thread recycling allocator for coroutine frames.
//
// A heap frame costs ~12 ns here (docs/design.md, "Costs the design rests on"); fork-join creates one frame per
// child, so frames come from small per-thread free lists instead, one list per
// 64-byte size class. A frame freed on another thread goes to that thread's
// list: memory migrates between workers but is never lost, and each list is
// capped so a producer/consumer imbalance cannot hoard memory.
//
// The pool is a constinit, trivially destructible thread_local, so the fast
// paths (pop or push one frame) are inline and need no TLS init guard. The
// per-thread cleanup (returning cached frames to the heap at thread exit) is
// registered on the slow path, the first time a thread caches a frame.
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
    FramePool& pool = tls_pool_;
    if (FreeFrame* f = pool.free_[cls]) {
      pool.free_[cls] = f->next;
      --pool.count_[cls];
      return f;
    }
    // Full class size even when fresh: another thread may free it into its
    // list for this class, and hand it out for any size in the class.
    return ::operator new((cls + 1) * kGranule);
  }

  static void deallocate(void* p, std::size_t size) noexcept {
    std::size_t cls = class_of(size);
    FramePool& pool = tls_pool_;
    if (cls < kClasses && pool.state_ == State::live && pool.count_[cls] < kMaxCachedPerClass) {
      auto* f = static_cast<FreeFrame*>(p);
      f->next = pool.free_[cls];
      pool.free_[cls] = f;
      ++pool.count_[cls];
      return;
    }
    deallocate_slow(p, size);
  }

 private:
  struct FreeFrame {
    FreeFrame* next;
  };
  enum class State : std::uint8_t {
    fresh,  // nothing cached yet, thread-exit cleanup not registered
    live,   // caching; the cleanup runs at thread exit
    dead,   // thread exiting: the cleanup ran, frames go straight to the heap
  };

  static constexpr std::size_t class_of(std::size_t size) noexcept { return size == 0 ? 0 : (size - 1) / kGranule; }

  // Out of line (frame_allocator.cpp): big frames, a full list, the first
  // frame a thread caches (registers the cleanup), or a dead pool.
  static void deallocate_slow(void* p, std::size_t size) noexcept;
  friend struct FramePoolCleanup;
  void drain() noexcept;

  FreeFrame* free_[kClasses];
  std::uint32_t count_[kClasses];
  State state_;

  // Defined once in frame_allocator.cpp, so there is exactly one pool per
  // thread even when several shared objects include this header. constinit
  // on the declaration tells the compiler there is no dynamic initialisation,
  // so uses need no TLS wrapper call.
  static constinit thread_local FramePool tls_pool_;
};

// Base for coroutine promises: routes frame allocation through FramePool.
struct FrameAllocated {
  static void* operator new(std::size_t size) { return FramePool::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { FramePool::deallocate(p, size); }
};

}  // namespace dftracer::utils::detail
