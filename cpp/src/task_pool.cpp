// Recycling storage for task states (see task_pool.hpp).
#include "dftracer/utils/core/detail/task_pool.hpp"

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include <pthread.h>

namespace dftracer::utils::detail {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DFTRACER_TASK_POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DFTRACER_TASK_POOL_OFF 1
#endif
#endif

#if defined(DFTRACER_TASK_POOL_OFF)

void* TaskPool::allocate(std::size_t size) { return ::operator new(size); }
void TaskPool::deallocate(void* p, std::size_t size) noexcept { ::operator delete(p, size); }

#else

namespace {

constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = 16;  // states up to 1 KiB are pooled
constexpr std::uint32_t kBatch = 64;  // blocks moved between threads at a time
constexpr std::size_t kSlabBlocks = kBatch;

struct FreeBlock {
  FreeBlock* next;
};

// The shared side: batches of free blocks per class (each a linked list).
// Slabs are never freed; every block stays reachable from a list or a task.
struct Shared {
  std::mutex mu;
  std::array<std::vector<FreeBlock*>, kClasses> batches;
};

// Constant-initialized (no guard, nothing to race at first use: a fork while
// another thread ran a guarded first-use initializer left the child's guard
// taken forever) and never destroyed (threads may free task states after
// static destructors have run).
union SharedStorage {
  Shared value;
  constexpr SharedStorage() : value() {}
  ~SharedStorage() {}
};
constinit SharedStorage g_shared;

Shared& shared() noexcept { return g_shared.value; }

// fork() while another thread holds the lock would leave the child's lock
// held forever: the lock is taken around fork, so the child's copy is whole.
void lock_for_fork() { shared().mu.lock(); }
void unlock_after_fork() { shared().mu.unlock(); }
[[maybe_unused]] const bool g_fork_handlers =
    ::pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork) == 0;

// A thread's cache is trivially destructible, so it can be read safely by
// frees that run during the thread's exit after the flusher below has run.
struct Local {
  std::array<FreeBlock*, kClasses> head;
  std::array<std::uint32_t, kClasses> count;
  bool flushed;
};

constinit thread_local Local tls_local{};

// Registered (constructed) on a thread's first refill; at thread exit it
// gives the cached blocks back to the shared side, for the threads still
// running, and marks the cache so later frees go to the shared side too.
struct Flusher {
  ~Flusher() {
    Local& local = tls_local;
    local.flushed = true;
    Shared& s = shared();
    std::lock_guard lock(s.mu);
    for (std::size_t c = 0; c < kClasses; ++c) {
      if (local.head[c]) s.batches[c].push_back(local.head[c]);
      local.head[c] = nullptr;
      local.count[c] = 0;
    }
  }
};

std::size_t class_of(std::size_t size) noexcept { return (size + kGranule - 1) / kGranule - 1; }

// Splits `n` blocks of class `c` off the front of `list`; returns the rest.
FreeBlock* split(FreeBlock* list, std::uint32_t n) noexcept {
  FreeBlock* last = list;
  for (std::uint32_t i = 1; i < n && last->next; ++i) last = last->next;
  FreeBlock* rest = last->next;
  last->next = nullptr;
  return rest;
}

}  // namespace

void* TaskPool::allocate(std::size_t size) {
  std::size_t c = class_of(size);
  if (c >= kClasses) return ::operator new(size);
  Local& local = tls_local;
  // The full block size always: the block may go to a free list later.
  if (local.flushed) return ::operator new((c + 1) * kGranule);
  if (FreeBlock* b = local.head[c]) {
    local.head[c] = b->next;
    if (local.count[c]) --local.count[c];
    return b;
  }
  // Empty: a batch from the shared side, or a fresh slab.
  FreeBlock* batch = nullptr;
  {
    Shared& s = shared();
    std::lock_guard lock(s.mu);
    if (!s.batches[c].empty()) {
      batch = s.batches[c].back();
      s.batches[c].pop_back();
    }
  }
  static thread_local Flusher flusher;  // first refill on this thread: register it
  (void)flusher;
  if (!batch) {
    const std::size_t block = (c + 1) * kGranule;
    auto* slab = static_cast<char*>(::operator new(block* kSlabBlocks));
    for (std::size_t i = 0; i < kSlabBlocks; ++i) {
      auto* f = reinterpret_cast<FreeBlock*>(slab + i * block);
      f->next = i + 1 < kSlabBlocks ? reinterpret_cast<FreeBlock*>(slab + (i + 1) * block) : nullptr;
    }
    batch = reinterpret_cast<FreeBlock*>(slab);
  }
  local.head[c] = batch->next;
  local.count[c] = kBatch - 1;  // a partial batch only undercounts: harmless
  return batch;
}

void TaskPool::deallocate(void* p, std::size_t size) noexcept {
  std::size_t c = class_of(size);
  if (c >= kClasses) {
    ::operator delete(p, size);
    return;
  }
  Local& local = tls_local;
  auto* f = static_cast<FreeBlock*>(p);
  if (local.flushed) {
    // Freed during this thread's exit, after its cache went back.
    Shared& s = shared();
    f->next = nullptr;
    std::lock_guard lock(s.mu);
    s.batches[c].push_back(f);
    return;
  }
  f->next = local.head[c];
  local.head[c] = f;
  if (++local.count[c] < 2 * kBatch) return;
  // Too many here (we free more than we make): hand a batch back.
  FreeBlock* keep = split(local.head[c], kBatch);
  FreeBlock* give = local.head[c];
  local.head[c] = keep;
  local.count[c] = kBatch;
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  s.batches[c].push_back(give);
}

#endif

}  // namespace dftracer::utils::detail
