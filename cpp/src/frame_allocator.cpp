// The per-thread frame pool instance (see frame_allocator.hpp).
#include "dftracer/utils/core/frame_allocator.hpp"

namespace dftracer::utils::detail {

FramePool::~FramePool() {
  alive_ = false;
  for (std::size_t cls = 0; cls < kClasses; ++cls) {
    while (FreeFrame* f = free_[cls]) {
      free_[cls] = f->next;
      ::operator delete(f);
    }
  }
}

FramePool& FramePool::local() noexcept {
  // constinit-able: the pool is plain data, so no TLS init guard is needed on
  // the fast path, only the destructor registration on first use.
  static thread_local FramePool pool;
  return pool;
}

}  // namespace dftracer::utils::detail
