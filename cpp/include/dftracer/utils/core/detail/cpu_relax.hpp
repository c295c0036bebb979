// cpu_relax: the pause instruction of a spin-wait loop (lets the sibling
// hyperthread run and saves power while we poll a cache line).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace dftracer::utils {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace dftracer::utils
