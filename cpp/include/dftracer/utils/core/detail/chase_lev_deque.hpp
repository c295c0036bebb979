// Work-stealing deque (Chase & Lev, SPAA'05; memory orders after Le, Pop,
// Cohen & Zappa Nardelli, PPoPP'13). The owning worker pushes and takes at the
// bottom (LIFO, cache-warm), thieves steal at the top (FIFO, oldest = biggest
// work in fork-join). The buffer doubles when full; old buffers are retired,
// not freed, until the deque dies, because a thief may still be reading one.
//
// Memory orders: the paper puts a seq_cst fence between the owner's store to
// `bottom` and its load of `top` in take(), and between the thief's loads of
// `top` and `bottom` in steal(). We write those as seq_cst operations on the
// atomics themselves instead of standalone fences: on x86 this compiles to the
// same instructions (an xchg instead of mov+mfence), and ThreadSanitizer,
// which does not model fences, then checks the real protocol (docs/design.md, "Costs the design rests on").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dftracer/utils/core/detail/work_item.hpp"

namespace dftracer::utils {

class ChaseLevDeque {
 public:
  explicit ChaseLevDeque(std::size_t initial_capacity = 256) : buffer_(new Buffer(round_up_pow2(initial_capacity))) {
    retired_.emplace_back(buffer_.load(std::memory_order_relaxed));
  }
  ChaseLevDeque(const ChaseLevDeque&) = delete;
  ChaseLevDeque& operator=(const ChaseLevDeque&) = delete;

  // Owner only.
  void push(WorkItem item) {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    std::int64_t t = top_.load(std::memory_order_acquire);
    Buffer* buf = buffer_.load(std::memory_order_relaxed);
    if (b - t > static_cast<std::int64_t>(buf->mask)) buf = grow(buf, t, b);
    buf->put(b, item);
    // seq_cst (release would do for thieves: one that sees the new bottom
    // also sees the item): the pusher then checks for parked workers
    // (IdleCoordinator::notify_one), and that store-load pair must not be
    // reordered, or a worker parking at the same moment and the pusher could
    // both miss each other (idle_coordinator.hpp).
    bottom_.store(b + 1, std::memory_order_seq_cst);
  }

  // Owner only. Returns an empty WorkItem when the deque is empty.
  WorkItem take() {
    std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    Buffer* buf = buffer_.load(std::memory_order_relaxed);
    // seq_cst store then seq_cst load: the store-load order the paper gets
    // from its fence, so owner and thief cannot both miss each other.
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // was empty
      bottom_.store(b + 1, std::memory_order_relaxed);
      return {};
    }
    WorkItem item = buf->get(b);
    if (t == b) {  // last item: race the thieves for it
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        item = {};
      }
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return item;
  }

  // Owner only. Takes the bottom item only if it is `expected`: the join fast
  // path pops a spawned child back when nobody stole it. The peek needs no
  // fence: only the owner writes slots and bottom_, and top_ only grows, so a
  // stale (smaller) top_ can only send us on to the full take protocol below,
  // which decides races with thieves exactly as take() does. A slot below a
  // stale top_ may still hold `expected` after a thief took it; the seq_cst
  // re-read of top_ then fails the take.
  bool take_if(WorkItem expected) {
    std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    if (b < top_.load(std::memory_order_relaxed)) return false;  // empty
    Buffer* buf = buffer_.load(std::memory_order_relaxed);
    if (buf->get(b).bits() != expected.bits()) return false;  // not ours to take
    // From here exactly take(): seq_cst store then seq_cst load (see there).
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // a thief took it after our peek
      bottom_.store(b + 1, std::memory_order_relaxed);
      return false;
    }
    bool won = true;
    if (t == b) {  // last item: race the thieves for it
      won = top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed);
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return won;
  }

  enum class StealResult { success, empty, lost_race };

  // Any thread. On success writes the stolen item to `out`.
  StealResult steal(WorkItem& out) {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return StealResult::empty;
    Buffer* buf = buffer_.load(std::memory_order_acquire);
    WorkItem item = buf->get(t);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
      return StealResult::lost_race;
    }
    out = item;
    return StealResult::success;
  }

  // A hint for thieves and progress: may be stale by the time it returns.
  std::size_t size_hint() const noexcept {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    std::int64_t t = top_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }
  bool empty_hint() const noexcept { return size_hint() == 0; }
  // The check a parking worker makes after registering as parked: seq_cst,
  // so it is ordered after that registration and sees any push whose
  // pusher did not see the registration (see push()).
  bool has_work() const noexcept {
    std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    return b > t;
  }

 private:
  struct Buffer {
    explicit Buffer(std::size_t capacity) : mask(capacity - 1), slots(new std::atomic<std::uintptr_t>[capacity]) {}
    std::size_t mask;
    std::unique_ptr<std::atomic<std::uintptr_t>[]> slots;
    void put(std::int64_t i, WorkItem item) noexcept {
      slots[static_cast<std::size_t>(i) & mask].store(item.bits(), std::memory_order_relaxed);
    }
    WorkItem get(std::int64_t i) const noexcept {
      return WorkItem::from_bits(slots[static_cast<std::size_t>(i) & mask].load(std::memory_order_relaxed));
    }
  };

  Buffer* grow(Buffer* old, std::int64_t t, std::int64_t b) {
    auto* bigger = new Buffer((old->mask + 1) * 2);
    for (std::int64_t i = t; i < b; ++i) bigger->put(i, old->get(i));
    retired_.emplace_back(bigger);
    // Release: a thief that loads the new buffer sees the copied items.
    buffer_.store(bigger, std::memory_order_release);
    return bigger;
  }

  static std::size_t round_up_pow2(std::size_t n) {
    std::size_t p = 2;
    while (p < n) p <<= 1;
    return p;
  }

  // top_ and bottom_ on separate cache lines: thieves hammer top_, the owner
  // bottom_.
  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  alignas(64) std::atomic<Buffer*> buffer_;
  // Every buffer ever used, freed with the deque (owner-only list).
  std::vector<std::unique_ptr<Buffer>> retired_;
};

}  // namespace dftracer::utils
