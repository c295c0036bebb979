// TraceThreadBuffer: one thread's trace records on their way to the trace
// writer, as a single-producer single-consumer list of byte chunks.
//
// The thread that records appends whole records to its own chunk and
// publishes how far it has written with one release store (a plain move on
// x86): no lock, no RMW, nothing shared with other recording threads. The
// writer thread reads up to the published size, and hands a chunk back for
// reuse once the producer has moved on to the next one. A record never spans
// two chunks.
//
// A buffer is shared (shared_ptr) by the tracer that drains it and by the
// thread that fills it, so a thread that records after its tracer stopped
// writes into memory that still exists; the tracer drops its share when it
// stops, the thread when it exits or moves on to another tracer.
// (docs/design.md, "Tracing")
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

namespace dftracer::utils::detail {

class TraceThreadBuffer {
 public:
  static constexpr std::size_t kChunkBytes = 32 * 1024;
  // At most this many chunks per thread (64 MiB, ~600k task records)
  // waiting for the writer; beyond it append() drops.
  static constexpr std::uint32_t kMaxChunks = 2048;

  TraceThreadBuffer(std::uint64_t tid, std::string thread_name)
      : tid_(tid), thread_name_(std::move(thread_name)), head_(new Chunk), tail_(head_) {}
  ~TraceThreadBuffer() {
    for (Chunk* c = head_; c;) {
      Chunk* next = c->next.load(std::memory_order_relaxed);
      delete c;
      c = next;
    }
    for (Chunk* list : {spares_.load(std::memory_order_relaxed), local_spares_}) {
      for (Chunk* c = list; c;) {
        Chunk* next = c->next.load(std::memory_order_relaxed);
        delete c;
        c = next;
      }
    }
  }
  TraceThreadBuffer(const TraceThreadBuffer&) = delete;
  TraceThreadBuffer& operator=(const TraceThreadBuffer&) = delete;

  std::uint64_t tid() const noexcept { return tid_; }
  const std::string& thread_name() const noexcept { return thread_name_; }

  // Producer (the owning thread only). Appends `n` bytes as one record; false
  // when the record is larger than a chunk or no memory is left (dropped).
  bool append(const void* bytes, std::size_t n) noexcept {
    if (n > kChunkBytes) return false;
    Chunk* c = tail_;
    std::size_t used = c->used.load(std::memory_order_relaxed);  // only we write it
    if (used + n > kChunkBytes) {
      Chunk* fresh = take_spare();
      if (!fresh) {
        // A writer that falls this far behind (it runs below the workers'
        // priority) costs records, not unbounded memory: the caller counts
        // them as dropped.
        if (chunks_.load(std::memory_order_relaxed) >= kMaxChunks) return false;
        fresh = new (std::nothrow) Chunk;
        if (!fresh) return false;
        chunks_.fetch_add(1, std::memory_order_relaxed);  // a count only: no ordering needed
      }
      std::memcpy(fresh->data, bytes, n);
      fresh->used.store(n, std::memory_order_relaxed);  // published by the next store
      // release: the consumer that sees `next` sees the new chunk's bytes and
      // its size, and the old chunk's final size (stored before).
      c->next.store(fresh, std::memory_order_release);
      tail_ = fresh;
      return true;
    }
    std::memcpy(c->data + used, bytes, n);
    // release: the consumer that reads this size sees the bytes below it.
    c->used.store(used + n, std::memory_order_release);
    return true;
  }

  // Consumer (one thread at a time: the tracer's writer). Calls
  // fn(const char* data, std::size_t n) on every byte range published since
  // the last call (whole records only); frees the chunks left behind.
  template <class F>
  void drain(F&& fn) {
    for (;;) {
      Chunk* c = head_;
      // `next` first: once it is set the size read after it is final.
      Chunk* next = c->next.load(std::memory_order_acquire);
      std::size_t used = c->used.load(std::memory_order_acquire);
      if (used > consumed_) fn(c->data + consumed_, used - consumed_);
      consumed_ = used;
      if (!next) return;
      head_ = next;
      consumed_ = 0;
      give_spare(c);
    }
  }

  // Set when the owning thread is gone: once drained, the buffer can go.
  void mark_orphaned() noexcept { orphaned_.store(true, std::memory_order_release); }
  bool orphaned() const noexcept { return orphaned_.load(std::memory_order_acquire); }

 private:
  struct Chunk {
    std::atomic<std::size_t> used{0};
    std::atomic<Chunk*> next{nullptr};
    char data[kChunkBytes];
  };

  // Drained chunks go back to the producer (a fresh allocation is first
  // touched page by page; a reused one is warm): the consumer pushes onto
  // this stack, the producer takes the whole stack at once. One pusher and
  // one taker-of-all, so no ABA. At most kMaxSpares are kept.
  static constexpr int kMaxSpares = 4;
  void give_spare(Chunk* c) noexcept {
    if (spare_count_ >= kMaxSpares) {
      // Count only what we pushed since the producer last took the stack.
      if (spares_.load(std::memory_order_acquire) != nullptr) {
        delete c;
        chunks_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      spare_count_ = 0;
    }
    c->used.store(0, std::memory_order_relaxed);
    Chunk* head = spares_.load(std::memory_order_relaxed);
    do {
      c->next.store(head, std::memory_order_relaxed);
      // release: the taker sees the chunk reset.
    } while (!spares_.compare_exchange_weak(head, c, std::memory_order_release, std::memory_order_relaxed));
    ++spare_count_;
  }
  Chunk* take_spare() noexcept {
    if (!local_spares_) local_spares_ = spares_.exchange(nullptr, std::memory_order_acquire);
    Chunk* c = local_spares_;
    if (c) {
      local_spares_ = c->next.load(std::memory_order_relaxed);
      c->next.store(nullptr, std::memory_order_relaxed);
    }
    return c;
  }

  const std::uint64_t tid_;
  const std::string thread_name_;
  Chunk* head_;  // consumer side
  std::size_t consumed_ = 0;
  Chunk* tail_;                    // producer side
  Chunk* local_spares_ = nullptr;  // producer side: spares taken, not yet used
  std::atomic<Chunk*> spares_{nullptr};
  int spare_count_ = 0;                   // consumer side
  std::atomic<std::uint32_t> chunks_{1};  // chunks this buffer owns (spares included)
  std::atomic<bool> orphaned_{false};
};

}  // namespace dftracer::utils::detail
