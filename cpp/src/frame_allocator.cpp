// The per-thread frame pool instance and its slow paths (see
// frame_allocator.hpp).
#include "dftracer/utils/core/detail/frame_allocator.hpp"

#include <type_traits>

namespace dftracer::utils::detail {

static_assert(std::is_trivially_destructible_v<FramePool>,
              "the thread_local pool must need no destructor registration on its fast path");

constinit thread_local FramePool FramePool::tls_pool_{};

// Returns the thread's cached frames to the heap at thread exit. A separate
// thread_local with a destructor, touched only on the slow path, so the pool
// itself stays trivially destructible.
struct FramePoolCleanup {
  ~FramePoolCleanup() { FramePool::tls_pool_.drain(); }
};

void FramePool::drain() noexcept {
  // Frames freed later during thread exit (other thread_local destructors)
  // go straight back to the heap.
  state_ = State::dead;
  for (std::size_t cls = 0; cls < kClasses; ++cls) {
    while (FreeFrame* f = free_[cls]) {
      free_[cls] = f->next;
      ::operator delete(f);
    }
    count_[cls] = 0;
  }
}

void FramePool::deallocate_slow(void* p, std::size_t size) noexcept {
  std::size_t cls = class_of(size);
  FramePool& pool = tls_pool_;
  if (cls < kClasses && pool.state_ == State::fresh) {
    // First frame this thread caches: register the cleanup, then cache it.
    static thread_local FramePoolCleanup cleanup;
    (void)cleanup;
    pool.state_ = State::live;
    deallocate(p, size);
    return;
  }
  // Too big, list full, or the thread is exiting.
  ::operator delete(p);
}

}  // namespace dftracer::utils::detail
